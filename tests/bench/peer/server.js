'use strict';
/*
 * server.js - the Node.js peer of `make bench` (issue 16): chatsync's two hot
 * paths, list chats and append a message, written the way a Node team writes
 * them: Node.js 20, fastify, node-postgres (pg), parameterised queries, two
 * cluster workers, a pool of 16 connections per worker.
 *
 * IT VERIFIES NO TOKEN. The user is read from the bearer token's payload
 * (base64url JSON, its "sub") without checking the signature, the key, the
 * issuer or the expiry: chatsync does all of that on every request, so every
 * ratio against this peer is in the peer's favour.
 *
 * The SQL is not copied by hand: run.sh passes PEER_SQL, a JSON file of the
 * services' own statements (tests/bench/gen_pgbench.py writes it from
 * sql_dump, as it writes the pgbench scripts), so the peer runs the same
 * queries and takes the same locks: list runs chats_list_first; append runs
 * BEGIN, cs_version_reserve (locks the user's version row), messages_owner
 * (the idempotency check), messages_insert, COMMIT on one pooled connection,
 * one statement after the other, as node-postgres does.
 *
 * It serves its own database (PEER_DATABASE_URL), a copy of the bench's seed.
 *
 *   PEER_PORT=19091 PEER_SQL=sql.json PEER_DATABASE_URL=postgres://... node server.js
 */
const cluster = require('node:cluster');
const crypto = require('node:crypto');
const fs = require('node:fs');

const WORKERS = 2;
const POOL = 16;

function userOf(authorization) {
	const m = /^Bearer ([^.]+)\.([^.]+)\.[^.]+$/.exec(authorization || '');
	if (!m) return null;
	try {
		const claims = JSON.parse(Buffer.from(m[2], 'base64url').toString('utf8'));
		return typeof claims.sub === 'string' ? claims.sub : null;
	} catch {
		return null;
	}
}

function worker() {
	const fastify = require('fastify')({ logger: false });
	const { Pool } = require('pg');
	const sql = JSON.parse(fs.readFileSync(process.env.PEER_SQL, 'utf8'));
	// idleTimeoutMillis 0: kept, as the services keep theirs. By default node-postgres
	// closes a connection idle for 10 s; the 32 backends then ending at once took the
	// two cores for about 250 ms, inside chatsync's next fixed-rate load (measured).
	const pool = new Pool({
		connectionString: process.env.PEER_DATABASE_URL,
		max: POOL,
		idleTimeoutMillis: 0,
	});
	// named statements: node-postgres prepares each once per connection
	const q = (client, name, values) => client.query({ name, text: sql[name], values });

	fastify.addHook('onRequest', async (req, reply) => {
		req.user = userOf(req.headers.authorization);
		if (!req.user) reply.code(401).send({ error: 'unauthorized' });
	});

	fastify.get('/api/chats', async (req) => {
		const limit = Math.min(Math.max(parseInt(req.query.limit || '50', 10) || 50, 1), 200);
		const { rows } = await q(pool, 'chats_list_first', [req.user, limit + 1]);
		const hasMore = rows.length > limit;
		if (hasMore) rows.length = limit;
		for (const r of rows) {
			delete r.stored_bytes;
			delete r.bytes_before;
		}
		return { chats: rows, hasMore };
	});

	fastify.post('/api/chats/:id/messages', async (req, reply) => {
		const body = req.body || {};
		if (typeof body.content !== 'string' || (body.role !== 'user' && body.role !== 'assistant')) {
			return reply.code(400).send({ error: 'bad_request' });
		}
		const id = body.id || 'm_' + crypto.randomUUID().replace(/-/g, '');
		const now = Date.now();
		const client = await pool.connect();
		try {
			await client.query('BEGIN');
			await q(client, 'cs_version_reserve', [req.user, 1]);
			const owner = await q(client, 'messages_owner', [id]);
			if (owner.rows.length) {
				await client.query('ROLLBACK');
				return reply.code(owner.rows[0].user_id === req.user ? 200 : 409).send(owner.rows[0]);
			}
			const ins = await q(client, 'messages_insert', [
				id, req.params.id, req.user, body.content, body.role, body.timestamp || now,
				body.position ?? null, body.attachments ? JSON.stringify(body.attachments) : null, now,
				null, // streamState: a complete message, as the bench's appends
			]);
			await client.query('COMMIT');
			if (!ins.rows.length) return reply.code(404).send({ error: 'not_found' });
			return reply.code(201).send(ins.rows[0]);
		} catch (e) {
			await client.query('ROLLBACK').catch(() => {});
			throw e;
		} finally {
			client.release();
		}
	});

	fastify.listen({ port: Number(process.env.PEER_PORT), host: '127.0.0.1' }).catch((e) => {
		console.error(e);
		process.exit(1);
	});
}

if (cluster.isPrimary) {
	for (let i = 0; i < WORKERS; i++) cluster.fork();
	cluster.on('exit', (w, code) => {
		console.error(`peer: worker ${w.process.pid} exited (${code})`);
		process.exit(1);
	});
	// run.sh stops the primary by PID: take the workers along
	process.on('SIGTERM', () => {
		for (const id in cluster.workers) cluster.workers[id].kill('SIGTERM');
		process.exit(0);
	});
} else {
	worker();
}
