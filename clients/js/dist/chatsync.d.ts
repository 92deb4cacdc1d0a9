// Types of dist/chatsync.js: the same exports as index.js.
export * from '../index.js';
