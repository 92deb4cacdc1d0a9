/*
 * bounds.h - every bound on what comes in from outside and what goes out, in
 * one place (docs/API.md, "Limits", is the same list; docs/decisions/limits.md
 * says why each value).
 *
 * Input is bounded in this order before anything recursive or allocating sees
 * it: size (nginx and read_body), then nesting depth (cs_json_load's
 * non-recursive scan), then the parser. jansson recurses once per level and
 * accepts 2048 levels, far more than a 64 KiB worker stack holds.
 */
#ifndef CS_BOUNDS_H
#define CS_BOUNDS_H

/* JSON nesting, counted in arrays and objects ({"a":[1]} is 2 levels). */
#define CS_LIMIT_TOKEN_DEPTH 32 /* a token's header and payload */
#define CS_LIMIT_JWKS_DEPTH 32  /* the signing-key document */
#define CS_LIMIT_BODY_DEPTH 64  /* a request body, attachments included */
#define CS_LIMIT_JWKS_BYTES (1024 * 1024)
/*
 * Values in one JSON text: jansson spends 30-50 bytes on each, so an 8 MiB
 * body of "[0,0,0,...]" would take 130 MB to parse; this keeps it near 5 MB.
 */
#define CS_LIMIT_JSON_VALUES 100000

/*
 * A document's fields (common/document.h checks them, for the API and the
 * import alike). Ids are 1-255 bytes (common/id.h).
 */
#define CS_LIMIT_TITLE_CHARS 500
#define CS_LIMIT_CONTENT_BYTES (1024 * 1024)
#define CS_LIMIT_ATTACHMENTS_BYTES (256 * 1024) /* of compact JSON */

/*
 * A streamed reply (docs/API.md, "Streamed assistant replies"): one chunk's
 * text, and the messages one user has streaming at once (each holds state in
 * Redis, and a resuming live request reads each one's chunks).
 */
#define CS_LIMIT_CHUNK_BYTES (64 * 1024)
#define CS_LIMIT_STREAMS_PER_USER 8

/* Devices of one user with a sync status (GET /api/sync-status lists them all). */
#define CS_LIMIT_DEVICES 100

/* A chat's branches: ids of at most 255 bytes, so a chat is under 300 KiB. */
#define CS_LIMIT_BRANCHES 1000

/*
 * One answer holds documents while the stored bytes before the next one are
 * under this budget (at least one document, so that a page always advances).
 * Each document counts CS_LIMIT_DOCUMENT_BYTES besides its texts (its keys,
 * ids and numbers), so an answer holds at most 16,384 of them however short.
 * A document is at most about 1.3 MiB stored (a message: content 1 MiB,
 * attachments 256 KiB), so an answer stays under 18 MiB stored; JSON escaping
 * can make control characters six times longer on the wire.
 */
#define CS_LIMIT_ANSWER_BYTES (16 * 1024 * 1024)
#define CS_LIMIT_DOCUMENT_BYTES 1024

/* Page sizes: a request's ?limit= (default, most), each page also under the answer's bound. */
#define CS_LIMIT_CHATS_PAGE_DEFAULT 50 /* GET /api/chats */
#define CS_LIMIT_CHATS_PAGE_MAX 200
#define CS_LIMIT_MESSAGES_PAGE_DEFAULT 100 /* GET /api/chats/{id}/messages */
#define CS_LIMIT_MESSAGES_PAGE_MAX 500
#define CS_LIMIT_SYNC_PAGE_DEFAULT 500 /* GET /api/sync */
#define CS_LIMIT_SYNC_PAGE_MAX 1000

/* A client's X-Request-Id is kept when it is 1 to this many printable ASCII characters. */
#define CS_LIMIT_REQUEST_ID_CHARS 128

/* A limit as SQL text, for statements: CS_LIMIT_SQL(CS_LIMIT_ANSWER_BYTES). */
#define CS_LIMIT_SQL(limit) CS_LIMIT_SQL_TEXT(limit)
#define CS_LIMIT_SQL_TEXT(limit) #limit

#endif
