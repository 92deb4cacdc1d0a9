// Types of @chatsync/client/react.
import type { ReactNode } from 'react';
import type { Chat, ChatWithMessages, Client, Status } from './index.js';

export function ChatsyncProvider(props: { client: Client; children?: ReactNode }): ReactNode;
export function useClient(): Client;
/** undefined while loading, then live. */
export function useChats(): Chat[] | undefined;
/** undefined while loading; null when there is no such chat or it is deleted. */
export function useChat(chatId: string | null | undefined): ChatWithMessages | null | undefined;
type Writes = 'createChat' | 'updateChat' | 'deleteChat' | 'addMessage' | 'updateMessage' | 'deleteMessage' | 'branchChat';
export function useMutation<N extends Writes>(name: N): Client[N];
export function useSyncStatus(): Status;
