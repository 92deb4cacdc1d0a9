// Not run: type-checked by `npm run types` (tsc -p test/tsconfig.json), as an
// app would use the package through its exports map. Every export is used;
// the @ts-expect-error lines fail the check if the types grow loose (any).
import { ChatsyncError, createClient, createSseParser, deleteReplica, newId, ulid } from '@chatsync/client';
import type { AddMessageArgs, Chat, ChatWithMessages, Client, ClientOptions, Message, SseEvent, Status, StreamState, Unsubscribe, WriteResult } from '@chatsync/client';
import { ChatsyncProvider, useChat, useChats, useClient, useMutation, useSyncStatus } from '@chatsync/client/react';
import { StrictMode, useEffect, useMemo, useState, type ReactNode } from 'react';

const options: ClientOptions = {
  url: '',
  getToken: async () => 'jwt',
  userId: 'user_1',
  deviceId: 'd_1',
  indexedDB: globalThis.indexedDB,
  fetch: globalThis.fetch,
  BroadcastChannel: null,
  locks: null,
  live: 'auto',
  backoff: { baseMs: 100 },
  pollTimeoutS: 25,
  sseIdleMs: 35000,
  autoStart: false,
  sleep: (ms: number, signal?: AbortSignal) => new Promise<void>((r) => { setTimeout(r, ms); signal?.addEventListener('abort', () => r()); }),
};
const client: Client = createClient(options);
createClient({ url: 'https://chat.example.com', getToken: () => null });
// @ts-expect-error getToken is required
createClient({ url: '' });
// @ts-expect-error live is one of three
createClient({ url: '', getToken: () => 't', live: 'websocket' });

async function plain(): Promise<void> {
  await client.ready;
  const s: Status = client.status;
  const conn: 'online' | 'offline' | 'connecting' = s.connection;
  const n: number = s.pending + s.lastVersion;
  const who: string | undefined = client.userId ?? client.deviceId;
  void conn, n, who;

  const offs: Unsubscribe[] = [
    client.onStatus((st) => st.leader),
    client.on('status', (st: Status) => st.cursor),
    client.on('error', (err) => {
      const e: ChatsyncError = err;
      const text = `${e.status} ${e.code} ${e.message} ${e.requestId ?? ''} ${e.retryAfter ?? ''}`;
      const fields: string[] | undefined = e.dropped;
      const name: string | undefined = e.mutation?.name;
      void text, fields, name, e.doc;
    }),
    client.watchChats((chats: Chat[]) => chats.map((c) => c.title + (c.pending ? ' (pending)' : ''))),
    client.watchChat('c_1', (chat) => chat?.messages.map((m) => m.content)),
  ];
  offs.forEach((off) => off());

  const chats: Chat[] = await client.getChats();
  const one: ChatWithMessages | null = await client.getChat(chats[0].id);
  void one;

  const created: WriteResult<Chat> = client.createChat({ title: 'hi', userId: 'ignored' });
  const chatId: string = created.id;
  const chat: Chat = await created;
  const args: AddMessageArgs = { chatId, content: 'hello', role: 'user' };
  const message: Message = await client.addMessage(args);
  await client.addMessage({ chatId, content: 'answer', role: 'assistant', position: 2, attachments: [{ name: 'a.png' }], timestamp: Date.now(), id: newId('m') });
  // @ts-expect-error content is required
  client.addMessage({ chatId });
  // @ts-expect-error a role is user or assistant
  client.addMessage({ chatId, content: 'x', role: 'system' });
  const renamed: Chat = await client.updateChat({ chatId, title: 'renamed', branches: [] });
  const edited: Message = await client.updateMessage({ messageId: message.id, content: 'edited' });
  const tomb: Message = await client.deleteMessage({ messageId: edited.id });
  const branch: ChatWithMessages = await client.branchChat({ chatId, fromMessageId: message.id, title: 'b' });
  const gone: Chat = await client.deleteChat({ chatId: branch.id });
  void chat, renamed, tomb, gone;

  await client.sync();
  await client.flush(1000);
  await client.close();
  await deleteReplica('user_1');
  await deleteReplica('user_1', globalThis.indexedDB);

  const ids: string[] = [newId(), newId('c'), ulid(), ulid(Date.now())];
  const parser = createSseParser((ev: SseEvent) => ev.id ?? ev.event + ev.data, (comment: string) => comment);
  parser.push('data: x\n\n');
  const buffered: number = parser.pending;
  void ids, buffered;
  const own = new ChatsyncError({ status: 400, code: 'bad_request', message: 'title: too long', requestId: 'r1', retryAfter: 5, cause: new Error('x') });
  if (own.status === 400 && new ChatsyncError().code === 'network') throw own;
  // @ts-expect-error the constructor takes an object, not a message
  new ChatsyncError('no');
}
void plain;

// React, as the migration plan's components use it (docs/client.md).
export function ChatsyncClerkProvider({ userId, getToken, children }: { userId: string | null; getToken: () => Promise<string | null>; children: ReactNode }) {
  const client = useMemo(() => (userId ? createClient({ url: '', userId, getToken }) : null), [userId, getToken]);
  useEffect(() => () => { client?.close(); }, [client]);
  return client ? <ChatsyncProvider client={client}>{children}</ChatsyncProvider> : null;
}

export class ChatsyncChatService {
  static useGetChats(_userId?: string) { return useChats(); }
  static useGetChat(chatId: string) { return useChat(chatId); }
  static useCreateChat() { return useMutation('createChat'); }
  static useAddMessage() { return useMutation('addMessage'); }
  static useUpdateChat() { return useMutation('updateChat'); }
  static useDeleteChat() { return useMutation('deleteChat'); }
}

export function ChatInterface({ userId }: { userId: string }) {
  const chats: Chat[] | undefined = ChatsyncChatService.useGetChats(userId);
  const createChat = ChatsyncChatService.useCreateChat();
  const addMessage = ChatsyncChatService.useAddMessage();
  const updateChat = ChatsyncChatService.useUpdateChat();
  const deleteChat = ChatsyncChatService.useDeleteChat();
  const updateMessage = useMutation('updateMessage');
  const deleteMessage = useMutation('deleteMessage');
  const branchChat = useMutation('branchChat');
  // @ts-expect-error no such write
  useMutation('dropEverything');
  const [openId, setOpenId] = useState<string | null>(null);
  const open: ChatWithMessages | null | undefined = ChatsyncChatService.useGetChat(openId ?? '');
  const none = useChat(null);
  const status: Status = useSyncStatus();
  const direct: Client = useClient();
  void none, direct;

  const handleCreateChat = async (title: string) => {
    try {
      const { id: chatId } = await createChat({ userId, title });
      setOpenId(chatId);
    } catch (error) {
      console.error('Failed to create chat:', error);
    }
  };
  const handleSendMessage = async (chatId: string, content: string) => {
    const p = addMessage({ chatId, userId, content, role: 'user' });
    const id: string = p.id;
    const m: Message = await p;
    void id, m;
  };
  const handleRest = async (chatId: string, messageId: string) => {
    const c: Chat = await updateChat({ chatId, title: 'x' });
    const m: Message = await updateMessage({ messageId, content: 'y' });
    await deleteMessage({ messageId: m.id });
    const b: ChatWithMessages = await branchChat({ chatId: c.id, fromMessageId: messageId });
    await deleteChat({ chatId: b.id });
  };
  void handleCreateChat, handleSendMessage, handleRest;

  if (chats === undefined) return <p>Loading…</p>;
  return (
    <main>
      <small>{status.connection} · {status.pending} pending</small>
      <ul>{chats.map((c) => <li key={c.id} className={c.pending ? 'pending' : ''}>{c.title}</li>)}</ul>
      {open === null && <p>Chat not found</p>}
      {open && <section><h1>{open.title}</h1>{open.messages.map((m) => <p key={m.id}>{m.role}: {m.content}</p>)}</section>}
    </main>
  );
}

export function Root({ client }: { client: Client }) {
  return (
    <StrictMode>
      <ChatsyncProvider client={client}>
        <ChatInterface userId="user_1" />
      </ChatsyncProvider>
    </StrictMode>
  );
}

// A streamed reply: its state and the last chunk in its content.
export function streamMarker(message: Message): string {
  const state: StreamState | undefined = message.streamState;
  return state === 'streaming' ? `typing… (${message.streamSeq ?? 0})` : '';
}
