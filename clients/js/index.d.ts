// Types of @chatsync/client (README.md describes every call).

/** A chat as the server sends it (docs/API.md), plus `pending` while a local write is unsent. */
export interface Chat {
  id: string;
  userId: string;
  title: string;
  timestamp: number;
  parentChatId: string | null;
  branchFromMessageId: string | null;
  branches: string[];
  isDeleted: boolean;
  /** The server's version (ETag); 0 for a chat made here that the server has not stored yet. */
  version: number;
  createdAt: number;
  updatedAt: number;
  /** true while a write of this device to it waits in the outbox. */
  pending?: true;
}

export type Role = 'user' | 'assistant';

export interface Message {
  id: string;
  chatId: string;
  userId: string;
  content: string;
  role: Role;
  timestamp: number;
  position: number | null;
  attachments: unknown;
  isDeleted: boolean;
  /**
   * A streamed assistant reply: `streaming` while its text grows (content is
   * the text so far, chunks included), then `complete` or `error` (content:
   * what was kept). A message that never streamed is `complete`. Absent on a
   * message created by this client and not yet acknowledged.
   */
  streamState?: StreamState;
  /** The last chunk whose text is in content (0: none). */
  streamSeq?: number;
  version: number;
  createdAt: number;
  updatedAt: number;
  pending?: true;
}

export type StreamState = 'streaming' | 'complete' | 'error';

export interface ChatWithMessages extends Chat {
  messages: Message[];
}

export interface Status {
  /** online: caught up and live; connecting: (re)connecting or waiting to retry; offline: no network. */
  connection: 'online' | 'offline' | 'connecting';
  /** Writes in the outbox not yet answered by the server (all tabs). */
  pending: number;
  /** The highest server version this replica holds (0: none yet). */
  lastVersion: number;
  /** The sync cursor (opaque), null before the first page. */
  cursor: string | null;
  /** Whether this tab sends the outbox. */
  leader: boolean;
  userId: string | null;
  deviceId: string | null;
}

/** Every error the library reports: an HTTP error body, or status 0 for no answer. */
export class ChatsyncError extends Error {
  /** Defaults: status 0, code 'network', message 'could not reach the server'. */
  constructor(init?: { status?: number; code?: string; message?: string; requestId?: string; retryAfter?: number; cause?: unknown });
  name: 'ChatsyncError';
  /** HTTP status; 0 when there was no answer (network). */
  status: number;
  /** The API's error code (bad_request, not_found, precondition_failed, ...), or network, user_changed, closed, timeout, replica_closed, dependency_rejected. */
  code: string;
  requestId?: string;
  /** Seconds, from Retry-After. */
  retryAfter?: number;
  /** The write that failed (for errors of writes). */
  mutation?: { name: string; args: Record<string, unknown> };
  /** 412 rule: the fields of ours that the other device's values replaced. */
  dropped?: string[];
  /** 412 rule: the document as the server has it. */
  doc?: Chat | Message;
  /** dependency_rejected: the id of the refused create this write needed. */
  dependsOn?: string;
}

export interface ClientOptions {
  /** The API's origin, e.g. "https://chat.example.com" ("" for the page's own origin). */
  url: string;
  /** Called for every request, once more after a 401, and after the stream's reauth. */
  getToken: () => Promise<string | null | undefined> | string | null | undefined;
  /** The signed-in user's id (Clerk's user.id): opens the replica without asking for a token, so that an offline reload shows local data. Default: the first token's sub. A token for another user is refused. */
  userId?: string;
  /** This device's id; default: one made once and kept in the replica. */
  deviceId?: string;
  /** An IDBFactory (default globalThis.indexedDB; fake-indexeddb in Node). */
  indexedDB?: IDBFactory;
  /** A fetch (default globalThis.fetch). */
  fetch?: typeof fetch;
  /** null: no tab coordination (this client always sends its outbox). */
  BroadcastChannel?: typeof BroadcastChannel | null;
  /** A Web Locks manager (default navigator.locks); null: elect over BroadcastChannel. */
  locks?: LockManager | null;
  /** 'auto' (SSE, long-poll when SSE fails or stays silent), 'sse', or 'poll'. Default 'auto'. */
  live?: 'auto' | 'sse' | 'poll';
  /** Retry backoff: full-jitter exponential from baseMs (500) to maxMs (30000). */
  backoff?: { baseMs?: number; maxMs?: number };
  /** Long-poll timeout in seconds (default 25). */
  pollTimeoutS?: number;
  /** An SSE stream silent this long is dropped; silent from its start: long-poll is used for 5 minutes (default 35000). */
  sseIdleMs?: number;
  /** false: do not start syncing (the replica and writes still work; call sync()). */
  autoStart?: boolean;
  /** Tests: replaces the library's timer waits (ms, signal) => Promise<void>. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/** A write's promise; `id` is the document's id, known at once. */
export type WriteResult<T> = Promise<T> & { id: string };

export interface CreateChatArgs {
  id?: string;
  title: string;
  timestamp?: number;
  parentChatId?: string;
  branchFromMessageId?: string;
  /** Accepted for Convex compatibility and ignored: the user is the token's. */
  userId?: string;
}
export interface UpdateChatArgs { chatId: string; title?: string; branches?: string[] }
export interface DeleteChatArgs { chatId: string }
export interface AddMessageArgs {
  chatId: string;
  content: string;
  role?: Role;
  id?: string;
  position?: number;
  attachments?: unknown;
  timestamp?: number;
  userId?: string;
}
export interface UpdateMessageArgs { messageId: string; content?: string; attachments?: unknown }
export interface DeleteMessageArgs { messageId: string }
export interface BranchChatArgs { chatId: string; fromMessageId: string; title?: string; id?: string }

export type Unsubscribe = () => void;

export interface Client {
  /** Resolves when the replica is open (local data readable); rejects if the token has no user. */
  readonly ready: Promise<void>;
  readonly status: Status;
  readonly userId: string | undefined;
  readonly deviceId: string | undefined;
  onStatus(cb: (status: Status) => void): Unsubscribe;
  on(event: 'error', cb: (err: ChatsyncError) => void): Unsubscribe;
  on(event: 'status', cb: (status: Status) => void): Unsubscribe;

  watchChats(cb: (chats: Chat[]) => void): Unsubscribe;
  watchChat(chatId: string, cb: (chat: ChatWithMessages | null) => void): Unsubscribe;
  getChats(): Promise<Chat[]>;
  getChat(chatId: string): Promise<ChatWithMessages | null>;

  createChat(args: CreateChatArgs): WriteResult<Chat>;
  updateChat(args: UpdateChatArgs): WriteResult<Chat>;
  deleteChat(args: DeleteChatArgs): WriteResult<Chat>;
  addMessage(args: AddMessageArgs): WriteResult<Message>;
  updateMessage(args: UpdateMessageArgs): WriteResult<Message>;
  deleteMessage(args: DeleteMessageArgs): WriteResult<Message>;
  branchChat(args: BranchChatArgs): WriteResult<ChatWithMessages>;

  sync(): Promise<void>;
  flush(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export function createClient(options: ClientOptions): Client;

/** "<prefix>_<ULID>" ("c" chats, "m" messages), or a bare ULID. */
export function newId(prefix?: string): string;
export function ulid(now?: number): string;
/** Deletes a user's local replica (sign-out on a shared computer); close its client first. */
export function deleteReplica(userId: string, indexedDB?: IDBFactory): Promise<void>;

export interface SseEvent { event: string; data: string; id?: string }
export function createSseParser(onEvent: (ev: SseEvent) => void, onComment?: (text: string) => void): { push(chunk: string): void; readonly pending: number };
