// React bindings (`@chatsync/client/react`), shaped like the Convex hooks the
// app uses: a query hook is undefined while the replica loads, then live.
// No JSX, so that it runs without a build step.

import { createContext, createElement, useCallback, useContext, useEffect, useState } from 'react';

const ClientContext = createContext(null);

export function ChatsyncProvider({ client, children }) {
  return createElement(ClientContext.Provider, { value: client }, children);
}

export function useClient() {
  const client = useContext(ClientContext);
  if (!client) throw new Error('useClient: wrap the app in <ChatsyncProvider client={...}>');
  return client;
}

// Chats that are not deleted, newest first; undefined while loading.
// State is kept with the client it came from: when the provider gets another
// client (another user signed in), the previous user's chats are not shown.
export function useChats() {
  const client = useClient();
  const [state, setState] = useState({ client, value: undefined });
  useEffect(() => client.watchChats((value) => setState({ client, value })), [client]);
  return state.client === client ? state.value : undefined;
}

// { ...chat, messages } (not deleted, in order); null when there is no such
// chat (or it was deleted); undefined while loading.
export function useChat(chatId) {
  const client = useClient();
  const [state, setState] = useState({ client, chatId, value: undefined });
  useEffect(() => {
    if (chatId == null) return undefined;
    return client.watchChat(chatId, (value) => setState({ client, chatId, value }));
  }, [client, chatId]);
  // A value for the previous chatId (or client) is never shown for a new one.
  return chatId != null && state.client === client && state.chatId === chatId ? state.value : undefined;
}

// A stable function that calls the client's write `name` ('createChat',
// 'addMessage', ...): useMutation('addMessage')({ chatId, content, role }).
export function useMutation(name) {
  const client = useClient();
  if (typeof client[name] !== 'function') throw new TypeError(`useMutation: no write named ${name}`);
  return useCallback((args) => client[name](args), [client, name]);
}

// The client's status ({ connection, pending, lastVersion, ... }), live.
export function useSyncStatus() {
  const client = useClient();
  const [state, setState] = useState({ client, value: client.status });
  useEffect(() => client.onStatus((value) => setState({ client, value })), [client]);
  return state.client === client ? state.value : client.status;
}
