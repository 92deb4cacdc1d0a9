// @chatsync/client: the browser library of chatsync (README.md).
export { createClient } from './client.js';
export { ChatsyncError } from './http.js';
export { newId, ulid } from './ids.js';
export { deleteReplica } from './replica.js';
export { createSseParser } from './sync.js';
