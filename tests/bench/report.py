#!/usr/bin/env python3
"""The bench's table: prints it and writes it into the report document.

    report.py RESULTS_DIR DOC
    report.py --cluster RESULTS_DIR DOC   (tests/bench/cluster.sh: its own markers)

RESULTS_DIR holds one JSON file per measurement (run.sh). The generated part
of DOC lies between the two marker lines below and is replaced whole; the
text around it (what the figures mean, the profiles) is kept. A DOC without
the markers gets them appended.
"""
import json
import os
import statistics
import sys

BEGIN = "<!-- bench:begin: written by tests/bench/run.sh; edit outside these markers -->"
END = "<!-- bench:end -->"
CLUSTER_BEGIN = "<!-- bench-cluster:begin: written by tests/bench/cluster.sh; edit outside these markers -->"
CLUSTER_END = "<!-- bench-cluster:end -->"

ENDPOINTS = [
    # key, label, limit kind, target ratio
    ("list", "list chats `GET /api/chats` (50 chats)", "pg", 0.70),
    ("get", "get a chat `GET /api/chats/{id}` (50 messages)", "fcgi", 0.50),
    ("append", "append `POST /api/chats/{id}/messages`", "pg", 0.75),
    ("delta", "delta sync `GET /api/sync?cursor=…&limit=20` (20 changes)", "pg", None),
]
SERVING = {"list": "chats-svc", "get": "chats-svc", "append": "messages-svc", "delta": "sync-svc"}
PG_LABEL = {"list": "pgbench, same SQL (chats_list_first), 16 clients",
            "get": "pgbench, same SQL (chats_get_own + chats_messages), 16 clients",
            "append": "pgbench, same transaction (pipelined), 16 clients",
            "delta": "pgbench, same SQL (sync_changes), 16 clients"}


def load(results, name):
    path = os.path.join(results, name + ".json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def answer_bytes(results, key):
    """The endpoint's mean answer size, as run.sh measured it (answer_size.py)."""
    return (load(results, "answer_" + key) or {}).get("bytes")


def sized_loads(results, label):
    """(prefix, label) of the FastCGI loads answering as many bytes as each
    endpoint; label takes the size and the endpoint."""
    return [("fcgi_sized_" + key, label % (n0(answer_bytes(results, key)), key))
            for key, _, _, _ in ENDPOINTS if answer_bytes(results, key)]


def pool_clients(results):
    """The pgbench clients of the second SQL limit (a service's pooled connections), or None."""
    r = rounds(results, "pg_pool_" + ENDPOINTS[0][0])
    return r[0].get("clients") if r else None


def sql_rounds(results, key):
    """The rounds of the endpoint's SQL limit: the better of pgbench at 16
    clients and at the pool's size (the one with the higher median tps)."""
    candidates = [r for r in (rounds(results, prefix + key) for prefix in ("pg_", "pg_pool_"))
                  if med([d["tps"] for d in r])]
    return max(candidates, key=lambda r: med([d["tps"] for d in r]), default=[])


def sql_limit(results, key):
    """The endpoint's SQL limit (tps), or None."""
    return med([d["tps"] for d in sql_rounds(results, key)])


def ceiling(results, key):
    """The endpoint's FastCGI + SQL ceiling (req/s), or None: both costs on the
    same cores, a FastCGI round trip answering as many bytes as the endpoint
    does (kept connections) and the endpoint's SQL."""
    fc = med([d["rps"] for d in rounds(results, "fcgi_sized_" + key)])
    pg = sql_limit(results, key)
    return 1 / (1 / fc + 1 / pg) if fc and pg else None


def rounds(results, prefix):
    out, i = [], 1
    while True:
        d = load(results, "%s_%d" % (prefix, i))
        if d is None:
            return out
        out.append(d)
        i += 1


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def n0(x):
    return "—" if x is None else "{:,.0f}".format(x)


def f2(x):
    return "—" if x is None else "{:.2f}".format(x)


def f1(x):
    return "—" if x is None else "{:.1f}".format(x)


def verdict(ok):
    return "met" if ok else "**missed**"


def client_section(c):
    """The "Browser client" section from client.json (tests/bench/client.mjs)."""
    if c is None:
        return []
    out = ["### Browser client", ""]
    if c.get("skipped"):
        return out + ["Not measured: %s." % c["skipped"], ""]
    if c.get("failed"):
        return out + ["**failed**: %s (tests/bench/client.mjs; log .run/bench/client_bench.err)." % c["failed"], ""]
    size, ld, lv = c["size"], c["load"], c["live"]
    gz = size["withIdb"]["gzip"]
    first = ld["firstRenderMedianMs"]
    other = lv["otherDeviceMs"]
    out += [
        "Headless Chromium %s (Debian's), driven by playwright-core, against this run's stack." % c["chromium"],
        "",
        "| figure | value | aim |",
        "|---|---|---|",
        "| library size, min+gzip without React (`npm run size`: clients/js/index.js bundled with idb by esbuild) "
        "| %s B (%s B without idb; %s B minified) | < 15 KB (15,000 B): %s |"
        % (n0(gz), n0(size["withoutIdb"]["gzip"]), n0(size["withIdb"]["minified"]), verdict(gz < 15000)),
        "| navigation start → first render of a %s-chat replica from IndexedDB, the API unreachable "
        "(median of %d reloads) | %s ms (each: %s) | < 100 ms: %s |"
        % (n0(ld["chats"]), ld["reloads"], f1(first), ", ".join(f1(x) for x in ld["firstRenderMs"]),
           verdict(first is not None and first < 100)),
        "| … of which: HTML loaded / modules loaded / replica open / first `watchChats` callback / list in the "
        "DOM / next frame | %s / %s / %s / %s / %s / %s ms | |"
        % (f1(ld["htmlLoadedMedianMs"]), f1(ld["moduleStartMedianMs"]), f1(ld["replicaOpenMedianMs"]),
           f1(ld["firstCallbackMedianMs"]), f1(first), f1(ld["firstFrameMedianMs"])),
        "| write on one device → the other device's DOM shows it, through the stack (%d sequential writes "
        "after %d not counted) | p50 %s ms, p99 %s ms (min %s, max %s) | |"
        % (lv["writes"], lv["warmup"], f1(other["p50"]), f1(other["p99"]), f1(other["min"]), f1(other["max"])),
        "| the same writes' own promise settling (server answered, replica updated) | p50 %s ms, p99 %s ms | |"
        % (f1(lv["ackMs"]["p50"]), f1(lv["ackMs"]["p99"])),
        "",
        "The bench page (tests/bench/client/) is the library alone rendering plain DOM, served from a "
        "loopback server of client.mjs that passes every other path through to the stack (so page, "
        "IndexedDB and API share one origin). Reloads: the replica was first synced from the server, then "
        "that server answers /api/ and /dev/ by closing the connection (the client sees the network down) "
        "while the page's own files still load (as from a cache); each reload is a new page of the same "
        "browser context. Write → render: two browser contexts (two devices of one user), each live over "
        "SSE; from the `addMessage` call on one to the other's watchChat callback having put the message "
        "in the DOM, both timed with `performance.timeOrigin + performance.now()`; a development token is "
        "kept until a minute before it expires, as Clerk's `getToken` keeps its own. Times include the "
        "pass-through hop and this shared machine's load.",
        "",
    ]
    return out


def peer_section(results):
    """chatsync against the Node.js peer (tests/bench/peer/), measured in the same rounds."""
    skipped = (load(results, "peer") or {}).get("skipped")
    if skipped:
        return ["### Against a Node.js peer", "", "Skipped: %s." % skipped, ""]
    if not rounds(results, "peer_list"):
        return []
    out = ["### Against a Node.js peer", "",
           "The same two hot paths in Node.js 20 + fastify + node-postgres (tests/bench/peer/server.js: two "
           "cluster workers, a pool of 16 each, the services' own SQL and locks, its own copy of the seed, "
           "**no token verification**), straight on its port; chatsync through nginx with an RS256 token "
           "checked per request. Same wrk settings, right after chatsync in each round; p99 from the fixed-rate "
           "client at the same rate for both. Goal (issue 16): ≥ 2.5× with a lower p99.", "",
           "| endpoint | chatsync req/s | p99 ms | peer req/s | p99 ms | errors (chatsync / peer) | ratio | goal |",
           "|---|---:|---:|---:|---:|---|---:|---|"]
    for key, label in (("list", "`GET /api/chats` (50 chats)"), ("append", "`POST /api/chats/{id}/messages`")):
        c, p = rounds(results, "wrk_" + key), rounds(results, "peer_" + key)
        cf, pf = load(results, "fixed_" + key) or {}, load(results, "peer_fixed_" + key) or {}
        crps, prps = med([d["rps"] for d in c]), med([d["rps"] for d in p])
        c99, p99 = cf.get("latency_ms", {}).get("p99"), pf.get("latency_ms", {}).get("p99")
        ratio = crps / prps if crps and prps else None
        ok = ratio is not None and ratio >= 2.5 and c99 is not None and p99 is not None and c99 < p99
        c_errors = sum(d["error_count"] for d in c) + cf.get("error_count", 0)
        p_errors = sum(d["error_count"] for d in p) + pf.get("error_count", 0)
        # a side that answers errors fast is no measure of the work: no verdict then
        goal = "no verdict: errors answered" if c_errors or p_errors else \
            "≥ 2.5× and lower p99: %s" % verdict(ok)
        out.append("| %s | %s | %s | %s | %s | %d / %d | %s× | %s |" % (
            label, n0(crps), f2(c99), n0(prps), f2(p99), c_errors, p_errors, f2(ratio), goal))
    out.append("")
    return out


def warmed_loads(results):
    """(label, fixed-rate result) of the loads that ran a warm-up (fixed_rate.py --warmup)."""
    loads = [("chatsync " + key, "fixed_" + key) for key, _, _, _ in ENDPOINTS] + \
        [("Node.js peer " + key, "peer_fixed_" + key) for key in ("list", "append")]
    found = [(label, load(results, name)) for label, name in loads]
    return [(label, d) for label, d in found if d and d.get("warmup", {}).get("due")]


def warmup_seconds(results):
    found = warmed_loads(results)
    return found[0][1]["warmup"]["seconds"] if found else None


def warmup_section(results):
    """The fixed-rate loads' warm-ups: not in their p99, shown here."""
    found = warmed_loads(results)
    if not found:
        return []
    idle = load(results, "idle_pages") or {}
    seconds = warmup_seconds(results)
    out = ["### The fixed-rate loads' warm-up", "",
           "Each fixed-rate load runs %g s at its rate before the measured part, on the same connections, "
           "and that warm-up is not in its p50/p99 (its errors are in the errors, and apart here). It is the "
           "first load after the stack sat idle through other loads, and it opens the client's connections."
           % seconds, ""]
    if idle:
        faults = (", with %s and %s minor page faults" % (n0(idle["minor_faults_0_1s"]), n0(idle["minor_faults_5s"]))
                  if "minor_faults_5s" in idle else "")
        out += ["The same run's `tests/bench/idle_pages` read one byte of each page of %s MiB of its own memory "
                "in %s ms after 0.1 s asleep and in %s ms after 5 s%s." % (
                    n0(idle.get("mib")), f2(idle.get("after_0_1s_ms")), f2(idle.get("after_5s_ms")), faults), ""]
    out += ["| load | rate | warm-up p50 ms | warm-up p99 ms | warm-up max ms | warm-up errors | measured p99 ms |",
            "|---|---:|---:|---:|---:|---:|---:|"]
    for label, d in found:
        w = d["warmup"]
        lat = w["latency_ms"]
        out.append("| %s | %s | %s | %s | %s | %s | %s |" % (
            label, n0(d["rate"]), f2(lat.get("p50")), f2(lat.get("p99")), f2(lat.get("max")),
            n0(sum(w.get("errors", {}).values())), f2(d["latency_ms"].get("p99"))))
    out.append("")
    return out


def ceiling_parts_section(results):
    """Each endpoint's CPU per request against the two loads its FastCGI + SQL
    ceiling is made of, program by program: what chatsync spends on top."""
    services = ("chats-svc", "messages-svc", "sync-svc")
    rows = []
    for key, _, _, _ in ENDPOINTS:
        fc = [d for d in rounds(results, "fcgi_sized_" + key) if d.get("cpu")]
        pg = [d for d in sql_rounds(results, key) if d.get("cpu")]
        w = [d for d in rounds(results, "wrk_" + key) if d.get("cpu")]
        if not (fc and pg and w):
            continue

        def per(loads, group):
            return med([d["cpu"]["us_per_request"].get(group, 0) for d in loads]) or 0.0

        parts = {
            "service": per(fc, "fcgi_hello") + per(pg, "client"),
            "other services": 0.0,
            "postgres": per(fc, "postgres") + per(pg, "postgres"),
            "nginx": per(fc, "nginx"),
            "redis": per(fc, "redis-server") + per(pg, "redis-server"),
            "client": per(fc, "client"),
        }
        ours = {
            "service": per(w, SERVING[key]),
            "other services": sum(per(w, s) for s in services if s != SERVING[key]),
            "postgres": per(w, "postgres"),
            "nginx": per(w, "nginx"),
            "redis": per(w, "redis-server"),
            "client": per(w, "client"),
        }
        total_parts, total_ours = sum(parts.values()), sum(ours.values())
        rps, both = med([d["rps"] for d in w]), ceiling(results, key)
        rows.append("| %s | %s | %s | %s | %s | %s |" % (
            key, f1(total_parts), f1(total_ours), f2(total_parts / total_ours if total_ours else None),
            f2(rps / both if rps and both else None),
            ", ".join("%s %+d" % (g, round(ours[g] - parts[g])) for g in parts)))
    if not rows:
        return []
    return ["### Each endpoint against its ceiling's parts, CPU per request", "",
            "The ceiling is two loads, a FastCGI round trip answering the endpoint's bytes and pgbench "
            "running its SQL (the one of 16 clients and the pool's size that the ceiling takes); their "
            "CPU per request added is what chatsync would spend if it cost nothing on top (µs, medians of "
            "the rounds, from the table above). \"CPU ratio\" is that sum over chatsync's own. When every "
            "load keeps both cores busy, CPU per request is two cores over the rate and the CPU ratio is "
            "the measured one; a measured ratio above it says a load left the cores partly idle (pgbench's "
            "append waits on its commits' `fdatasync`). \"On top\" is chatsync's CPU per request less the "
            "parts', program by program: the service against `fcgi_hello` and pgbench's own client (the "
            "libpq calls the service makes in its place, and pgbench's script), the other services (sync-svc "
            "reading an append's wake-up) against nothing, and the client, the load generator, against "
            "the FastCGI load's (endpoint.lua picks a user and sends a token or a body).", "",
            "| endpoint | ceiling's parts µs | chatsync µs | CPU ratio | measured ratio | on top, µs |",
            "|---|---:|---:|---:|---:|---|"] + rows + [""]


def profile_section(results):
    """What each service's CPU went to under its endpoint's load (BENCH_PROFILE:
    perf and profile_share.py), or nothing when no endpoint was profiled."""
    shares = [(key, load(results, "share_" + key)) for key, _, _, _ in ENDPOINTS]
    shares = [(key, s) for key, s in shares if s]
    if not shares:
        return []
    labels = shares[0][1]["labels"]
    parts = sorted({p for _, s in shares for p in s["parts"]},
                   key=lambda p: (p == "other", -max(s["parts"].get(p, 0) for _, s in shares)))

    def load_of(key):
        return load(results, "profile_" + key) or {}

    def cpu(key):
        return load_of(key).get("cpu", {}).get("us_per_request", {}).get(SERVING[key])

    out = ["### Where each service's CPU goes", "",
           "Each service's samples (perf, 299 Hz, DWARF call graphs, during one more wrk load of its "
           "endpoint), each given to the first part of the request path found walking its call chain "
           "up from the leaf (tests/bench/profile_share.py): a futex inside the pool's wait counts as "
           "the pool, a `send` inside the answer's write as the answer. Kernel time counts where its "
           "system call was made. This load runs after all the others, with perf recording, so its rate "
           "and CPU per request differ from the rounds'. The machine has no hardware counters: perf "
           "samples on a timer, and a sample due while interrupts were off lands where they come back "
           "on, often at the end of a thread switch, which counts the switching high.", "",
           "| share of the service's samples | " + " | ".join(
               "%s (%s)" % (key, SERVING[key]) for key, _ in shares) + " |",
           "|---|" + "---:|" * len(shares),
           "| samples | " + " | ".join(n0(s["samples"]) for _, s in shares) + " |",
           "| that load's req/s; the service's CPU per request, µs | " + " | ".join(
               "%s; %s" % (n0(load_of(key).get("rps")), f1(cpu(key))) for key, _ in shares) + " |",
           "| in the kernel; with a thread switch in the chain | " + " | ".join(
               "%.0f %%; %.0f %%" % (s["kernel"], s["switching"]) for _, s in shares) + " |"]
    for p in parts:
        out.append("| %s | %s |" % (labels.get(p, p), " | ".join(
            "%.1f %%" % s["parts"][p] if p in s["parts"] else "—" for _, s in shares)))
    out += ["", "The rest, by the function running (or making the system call that was): " + "; ".join(
        "%s: %s" % (key, ", ".join("`%s` %.1f %%" % (sym, v) for sym, v in s["rest_top"][:4]))
        for key, s in shares) + ".", ""]
    return out


def build(results):
    m = load(results, "machine.json"[:-5])
    lines = []
    mode = ("quick (BENCH_QUICK=1): %d round of %d s per closed-loop figure, fixed-rate %d s, live %d s"
            % (m["rounds"], m["seconds_per_load"], m["fixed_seconds"], m["live_seconds"])
            if m["quick"] else
            "full: %d rounds of %d s per closed-loop figure (median shown), fixed-rate %d s, live %d s"
            % (m["rounds"], m["seconds_per_load"], m["fixed_seconds"], m["live_seconds"]))
    warmup = warmup_seconds(results)
    if warmup:
        mode = mode.replace("fixed-rate %d s" % m["fixed_seconds"],
                            "fixed-rate %d s after a %g s warm-up" % (m["fixed_seconds"], warmup))
    elapsed = load(results, "elapsed") or {}
    dirty = " (+%d uncommitted files in the worktree)" % m["dirty_files"] if m["dirty_files"] else ""
    lines += [
        "Run of %s, commit `%s`%s; mode %s; took %s s." % (m["date"], m["commit"], dirty, mode,
                                                           elapsed.get("elapsed_s", "?")),
        "Machine: %s, %d cores (nproc), %.1f GiB, Linux %s; load average at the start %s "
        "(the machine is shared: other builds and tests run beside the bench)."
        % (m["cpu"], m["nproc"], m["mem_gib"], m["kernel"], " ".join(m["loadavg"])),
        "Software: nginx %s, %s, %s, wrk %s, Python %s." % (m["nginx"], m["postgres"], m["redis"],
                                                            m["wrk"], m["python"]),
    ]
    if m.get("sched_policy"):
        lines.append("Scheduling: the stack, the limits' nginx and fcgi_hello and the Node.js peer "
                     "run with `SCHED_POLICY=%s` (deploy/stack.sh), the clients with the kernel's "
                     "default." % m["sched_policy"])
    lines.append("")

    # ---- the claim ----
    # the ceiling of the services' own connection model: kept connections
    # (nginx/upstreams.conf) when the run measured them
    keep = bool(rounds(results, "fcgi_keep"))
    fcgi = med([d["rps"] for d in rounds(results, "fcgi_keep" if keep else "fcgi")])
    rows = []
    lines += ["### Each endpoint against its limit", "",
              "| endpoint | req/s | p50 ms | p99 ms | at req/s | errors | limit | limit req/s | ratio | target "
              "| FastCGI + SQL ceiling | ratio to it |",
              "|---|---:|---:|---:|---:|---:|---|---:|---:|---|---:|---:|"]
    for key, label, kind, target in ENDPOINTS:
        w = rounds(results, "wrk_" + key)
        pg = rounds(results, "pg_" + key)
        fx = load(results, "fixed_" + key) or {}
        rps = med([d["rps"] for d in w])
        errors = sum(d["error_count"] for d in w) + fx.get("error_count", 0)
        if kind == "pg":
            limit, limit_label = med([d["tps"] for d in pg]), PG_LABEL[key]
        else:
            limit, limit_label = fcgi, "FastCGI ceiling (nginx → fcgi_hello%s)" % (
                ", kept connections" if keep else "")
        ratio = rps / limit if rps and limit else None
        tgt = "—"
        if target is not None and ratio is not None:
            tgt = "≥ %.2f: %s" % (target, verdict(ratio >= target))
        lat = fx.get("latency_ms", {})
        both = ceiling(results, key)
        rows.append((key, rps, limit, ratio, errors))
        lines.append("| %s | %s | %s | %s | %s | %d | %s | %s | %s | %s | %s | %s |" % (
            label, n0(rps), f2(lat.get("p50")), f2(lat.get("p99")), n0(fx.get("rate")), errors,
            limit_label, n0(limit), f2(ratio), tgt, n0(both), f2(rps / both if rps and both else None)))

    live = load(results, "live")
    if live:
        d = live["delivery_from_send_ms"]
        held = live["subscribers_held_to_end"]
        ok = (held >= 5000 and d["p99"] is not None and d["p99"] < 50 and live["error_count"] == 0)
        lines.append(
            "| live: %s SSE subscribers held, %s writes/s, commit → delivery | %s writes/s | %s | %s | %s | %d "
            "| — | held %s of %s | — | p99 < 50 ms with ≥ 5,000 held, no error: %s | | |" % (
                n0(live["subscribers_opened"]), n0(live["rate"]),
                n0(live["writes"] / live["writes_elapsed_s"]), f2(d["p50"]), f2(d["p99"]),
                n0(live["rate"]), live["error_count"], n0(held), n0(live["subscribers_wanted"]),
                verdict(ok)))

    streams = load(results, "streams")
    if streams:
        d = streams["delivery_ms"]
        ok = (d["p99"] is not None and d["p99"] < 50 and streams["error_count"] == 0 and
              streams["chunks_per_s"] >= 0.95 * streams["chunks_per_s_asked"])
        lines.append(
            "| streamed replies: %s streams × %s chunks/s to %s devices, chunk → device | %s chunks/s "
            "| %s | %s | %s | %d | asked | %s chunks/s | %s | p99 < 50 ms at the asked rate, no error: %s | | |" % (
                n0(streams["streams_created"]), n0(streams["chunk_rate"]), n0(streams["devices_opened"]),
                n0(streams["chunks_per_s"]), f2(d["p50"]), f2(d["p99"]), n0(streams["chunks_per_s_asked"]),
                streams["error_count"], n0(streams["chunks_per_s_asked"]),
                f2(streams["chunks_per_s"] / streams["chunks_per_s_asked"])
                if streams["chunks_per_s_asked"] else "—", verdict(ok)))

    copy = load(results, "copy") or {}
    imp = load(results, "import") or {"pending": True}
    copy_rate = copy.get("rows_per_s")
    if imp.get("pending"):
        lines.append("| import: **pending** (tests/bench/import_bench.sh does not exist yet) | — | — | — | — | — "
                     "| COPY of the seed | %s rows/s | — | ≥ 0.50 |" % n0(copy_rate))
    elif imp.get("failed"):
        lines.append("| import: **failed** (%s) | — | — | — | — | — | COPY of the seed | %s rows/s | — | ≥ 0.50 |"
                     % (imp.get("why", "see .run/bench/import_bench.err"), n0(copy_rate)))
        lines[-1] += " | |"
    else:
        # import_bench.sh: import_rows_per_s, and copy_rows_per_s of the same rows into the same schema
        rate = imp.get("import_rows_per_s", imp.get("rows_per_s"))
        base = imp.get("copy_rows_per_s") or copy_rate
        ratio = rate / base if rate and base else None
        lines.append("| import `bin/chatsync import` (%s rows, %s MB export; peak RSS %s MB) | %s rows/s | — | — | — | %s "
                     "| COPY of the same rows%s | %s rows/s | %s | %s |"
                     % (n0(imp.get("rows")), n0((imp.get("file_bytes") or 0) / 1e6),
                        n0((imp.get("peak_rss_kb") or 0) / 1024), n0(rate),
                        imp.get("errors", "—"), "" if imp.get("copy_rows_per_s") else " (the seed's)",
                        n0(base), f2(ratio),
                        "≥ 0.50: %s" % verdict(ratio >= 0.5) if ratio is not None else "≥ 0.50"))
        lines[-1] += " | |"
    lines += [
        "",
        "req/s: wrk, closed loop, %d connections, a random seeded user and that user's token per request. "
        "p50/p99: the fixed-rate client at the rate shown (half the closed-loop rate, at most 1,000/s; open "
        "loop, each latency from the time the request was due)%s. errors: every answer that is not 2xx and "
        "every socket error or timeout, of both loads. Live: p50/p99 from the write's send to the event's "
        "arrival (an upper bound of commit → delivery). FastCGI + SQL ceiling: the rate at which this machine "
        "could do both a no-op FastCGI round trip through nginx over kept connections, as the services "
        "are served, answering a body of the endpoint's mean answer size (measured in the run: %s), and "
        "the endpoint's SQL (pgbench: %s), 1 / (1/FastCGI ceiling + 1/pgbench), since both need the "
        "same two cores. The limit column's pgbench runs 16 clients." % (
            16, ", after a warm-up of %g s at that rate that they do not count (its figures are below)" % warmup
            if warmup else "", ", ".join("%s %s B" % (key, n0(answer_bytes(results, key))) for key, _, _, _ in ENDPOINTS),
            "the better of 16 clients and %s, a service's pooled connections" % pool_clients(results)
            if pool_clients(results) else "16 clients; this run has no pgbench at the pool's size"),
        "",
    ]

    lines += peer_section(results)
    lines += warmup_section(results)

    # ---- limits ----
    lines += ["### The limits, measured in the same run", "",
              "| limit | req/s | latency | errors |", "|---|---:|---|---:|"]
    for key, label, kind, target in ENDPOINTS:
        for prefix in ("pg_", "pg_pool_"):
            pg = rounds(results, prefix + key)
            if pg:
                lines.append("| pgbench `%s` (%s clients%s, -M prepared) | %s tps | %s ms average | %d |" % (
                    {"list": "list_chats.sql", "get": "get_chat.sql", "append": "append.sql",
                     "delta": "delta_sync.sql"}[key], pg[0].get("clients") or "?",
                    ": a service's pooled connections" if prefix == "pg_pool_" else "",
                    n0(med([d["tps"] for d in pg])), f2(med([d["latency_avg_ms"] for d in pg])),
                    sum(d["errors"] for d in pg)))
    for prefix, label in (("nginx", "nginx alone (`return 200`)"),
                          ("fcgi", "nginx → fcgi_hello, 17-byte body (the FastCGI ceiling)"),
                          ("fcgi_big", "nginx → fcgi_hello, 36,000-byte body (the size of a 50-message chat)"),
                          ("fcgi_keep", "nginx → fcgi_hello over kept connections (keepalive 8, "
                           "fastcgi_keep_conn on: the services' model), 17-byte body"),
                          *sized_loads(results, "nginx → fcgi_hello over kept connections, %s-byte body "
                                       "(%s's answer)")):
        r = rounds(results, prefix)
        if r:
            lines.append("| %s | %s | wrk p50 %s ms, p99 %s ms (closed loop) | %d |" % (
                label, n0(med([d["rps"] for d in r])),
                f2(med([d["closed_loop_latency_us"]["p50"] / 1000 for d in r])),
                f2(med([d["closed_loop_latency_us"]["p99"] / 1000 for d in r])),
                sum(d["error_count"] for d in r)))
    for name, label in (("redis_xadd", "Redis `XADD … MAXLEN ~ 100000` (redis-benchmark, 16 clients)"),
                        ("redis_xread", "Redis `XREAD COUNT 10` (redis-benchmark, 16 clients)")):
        r = load(results, name)
        if r:
            lines.append("| %s | %s | p50 %s ms, p99 %s ms | 0 |" % (label, n0(r["rps"]), f2(r["p50_ms"]),
                                                                   f2(r["p99_ms"])))
    if copy:
        lines.append("| COPY of the seed (%s messages, %s chats, text format, through psql)%s | %s rows/s | "
                     "messages alone %s rows/s (%s s) | 0 |" % (
                         n0(copy["messages"]), n0(copy["chats"]),
                         " — from the last load; the database held the seed" if copy.get("reused") else "",
                         n0(copy["rows_per_s"]), n0(copy["messages_per_s"]), f1(copy["messages_s"])))
    lines.append("")

    # ---- CPU per request ----
    loads = [("nginx", "nginx alone", None), ("fcgi", "nginx → fcgi_hello, 17 B", "fcgi_hello"),
             ("fcgi_big", "nginx → fcgi_hello, 36,000 B", "fcgi_hello"),
             ("fcgi_keep", "nginx → fcgi_hello kept, 17 B", "fcgi_hello"),
             *((prefix, label, "fcgi_hello")
               for prefix, label in sized_loads(results, "nginx → fcgi_hello kept, %s B (%s)"))]
    for key, label, kind, target in ENDPOINTS:
        loads += [("pg_" + key, "pgbench %s, 16 clients" % key, None),
                  ("pg_pool_" + key, "pgbench %s, %s clients" % (key, pool_clients(results)), None),
                  ("wrk_" + key, "chatsync " + key, SERVING[key])]
    cpu_rows = []
    for prefix, label, service in loads:
        r = [d for d in rounds(results, prefix) if d.get("cpu")]
        if not r:
            continue

        def per(group):
            return med([d["cpu"]["us_per_request"].get(group, 0) for d in r])

        values = [per("client"), per("nginx"), per(service) if service else 0, per("postgres"),
                  per("redis-server")]
        cpu_rows.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            label, n0(med([d.get("rps") or d.get("tps") for d in r])), f1(values[0]), f1(values[1]),
            "%s (%s)" % (f1(values[2]), service) if service else "—", f1(values[3]),
            f1(values[4]), f1(sum(values)), f2(med([d["cpu"]["cores"].get("other", 0) for d in r]))))
    if cpu_rows:
        lines += ["### Where the CPU goes", "",
                  "CPU time per request (µs) of each program during each load (median of the rounds), from "
                  "/proc: the client's own from GNU time, Postgres's including the backends it reaped. On two "
                  "cores, 2,000,000 µs per second divided by the total is the most the machine can serve; "
                  "\"other\" is the cores that other programs on the machine kept busy meanwhile (the noise).",
                  "",
                  "| load | req/s | client | nginx | service | Postgres | Redis | total | other (cores) |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|"] + cpu_rows + [""]

    lines += ceiling_parts_section(results)
    lines += profile_section(results)

    # ---- live details ----
    if live:
        mb, mh = live["memory_before"], live["memory_held"]
        n = max(1, live["subscribers_opened"])
        ds, da, wl = live["delivery_from_send_ms"], live["delivery_from_201_ms"], live["write_latency_ms"]
        lines += [
            "### Live path",
            "",
            "sync-svc with `SYNC_THREADS=%s`, `SYNC_THREAD_STACK_KB=%s` (threads running: %d); nginx %d workers."
            % (live["threads_setting"], live["stack_kb_setting"], mh["sync_threads"], mh["nginx_workers"]),
            "",
            "| | |", "|---|---|",
            "| subscribers (one SSE stream per distinct user) | %s wanted, %s answered 200, %s still held at the end |"
            % (n0(live["subscribers_wanted"]), n0(live["subscribers_opened"]), n0(live["subscribers_held_to_end"])),
            "| refused / dropped | %s / %s |" % (json.dumps(live["refused"]) if live["refused"] else "none",
                                              json.dumps(live["dropped"]) if live["dropped"] else "none"),
            "| time to open them all (until the last head came back) | %s s |" % f1(live["connect_s"]),
            "| writes | %s sent, %s answered 201, %s delivered, %s lost; errors %s |"
            % (n0(live["writes"]), n0(live["writes_ok"]), n0(live["delivered"]), n0(live["lost"]),
               json.dumps(live["write_errors"]) if live["write_errors"] else "none"),
            "| send → delivery (ms) | p50 %s, p90 %s, p99 %s, p99.9 %s, max %s |"
            % (f2(ds["p50"]), f2(ds["p90"]), f2(ds["p99"]), f2(ds["p999"]), f2(ds["max"])),
            "| 201 → delivery (ms) | p50 %s, p99 %s, max %s |" % (f2(da["p50"]), f2(da["p99"]), f2(da["max"])),
            "| the write's own latency (ms) | p50 %s, p99 %s |" % (f2(wl["p50"]), f2(wl["p99"])),
            "| sync-svc RSS | %s MiB before, %s MiB with all held: %s KiB per subscriber; %s KiB per subscriber counting the whole process (its idle threads included) |"
            % (f1(mb["sync_rss_kb"] / 1024), f1(mh["sync_rss_kb"] / 1024), f1(live["per_subscriber_kb"]["sync"]),
               f1(mh["sync_rss_kb"] / n)),
            "| nginx workers' RSS | %s MiB before, %s MiB with all held: %s KiB per subscriber |"
            % (f1(mb["nginx_workers_rss_kb"] / 1024), f1(mh["nginx_workers_rss_kb"] / 1024),
               f1(live["per_subscriber_kb"]["nginx"])),
            "| open descriptors per nginx worker, all held | %s (worker_rlimit_nofile 16000, worker_connections 8000) |"
            % ", ".join(n0(x) for x in mh.get("nginx_worker_fds", [])),
            "",
        ]

    # ---- streamed replies ----
    if streams:
        d, cpu = streams["delivery_ms"], streams.get("cpu", {})
        per = cpu.get("us_per_request", {})
        lines += [
            "### Streamed replies",
            "",
            "tests/bench/streams.py: each stream an assistant message in the streaming state, its chunks "
            "(`POST /api/messages/{id}/chunks`, about 8 bytes of text) sent open loop at the asked rate, each "
            "stream's in order on one of the client's connections; every user has 2 devices on SSE. Latency is "
            "(chunk event arrives on a device) − (its POST was sent), for every chunk and device.",
            "",
            "| | |", "|---|---|",
            "| streams, devices | %s created, %s devices answered 200, %s held to the end |"
            % (n0(streams["streams_created"]), n0(streams["devices_opened"]), n0(streams["devices_held_to_end"])),
            "| chunks | %s asked per second, %s carried per second (answered 200 over %s s); answers %s |"
            % (n0(streams["chunks_per_s_asked"]), n0(streams["chunks_per_s"]), f1(streams["chunks_elapsed_s"]),
               json.dumps(streams["answers"])),
            "| chunk → device (ms) | p50 %s, p90 %s, p99 %s, p99.9 %s, max %s; %s chunk events, %s chunks "
            "reached a device inside a window's document instead (it was behind), %s lost |"
            % (f2(d["p50"]), f2(d["p90"]), f2(d["p99"]), f2(d["p999"]), f2(d["max"]), n0(streams["deliveries"]),
               n0(streams.get("delivered_in_a_window", 0)), n0(streams["lost"])),
            "| Postgres row updates of messages (the windows, `STREAM_FLUSH_MS` %s) | %s in all, %s per second |"
            % (streams["flush_ms"], n0(streams["pg_row_updates"]), n0(streams["pg_updates_per_s"])),
            "| CPU per chunk (µs) | %s |" % (", ".join("%s %s" % (g, f1(v)) for g, v in sorted(per.items()))
                                           or "—"),
            "",
        ]

    # ---- the browser client (tests/bench/client.mjs) ----
    lines += client_section(load(results, "client"))

    # ---- spread ----
    lines += ["### Every round", "", "| figure | " + " | ".join("round %d" % (i + 1) for i in range(m["rounds"])) + " |",
              "|---|" + "---:|" * m["rounds"]]
    for prefix, label, field in (
            ("nginx", "nginx alone req/s", "rps"), ("fcgi", "FastCGI ceiling req/s", "rps"),
            ("fcgi_big", "FastCGI, 36,000-byte body req/s", "rps"),
            ("fcgi_keep", "FastCGI kept connections req/s", "rps"),
            *((prefix, label, "rps")
              for prefix, label in sized_loads(results, "FastCGI kept, %s-byte body (%s) req/s")),
            *((prefix + key, "pgbench %s tps%s" % (script, suffix), "tps")
              for key, script in (("list", "list_chats"), ("get", "get_chat"), ("delta", "delta_sync"),
                                  ("append", "append"))
              for prefix, suffix in (("pg_", ", 16 clients"),
                                     ("pg_pool_", ", %s clients" % pool_clients(results)))),
            ("wrk_list", "list chats req/s", "rps"), ("wrk_get", "get a chat req/s", "rps"),
            ("wrk_delta", "delta sync req/s", "rps"), ("wrk_append", "append req/s", "rps"),
            ("peer_list", "Node.js peer list req/s", "rps"), ("peer_append", "Node.js peer append req/s", "rps")):
        r = rounds(results, prefix)
        if r:
            lines.append("| %s | %s |" % (label, " | ".join(n0(d[field]) for d in r)))
    lines += ["", "Closed-loop latency of wrk (for reference only: a closed loop understates the tail):", ""]
    for key, label, kind, target in ENDPOINTS:
        w = rounds(results, "wrk_" + key)
        if w:
            lines.append("- %s: p50 %s ms, p99 %s ms; %s bytes per answer" % (
                key, f2(med([d["closed_loop_latency_us"]["p50"] / 1000 for d in w])),
                f2(med([d["closed_loop_latency_us"]["p99"] / 1000 for d in w])),
                n0(med([d["bytes_per_request"] for d in w]))))
    lines.append("")

    # ---- commands ----
    cmds_path = os.path.join(results, "commands.txt")
    if os.path.exists(cmds_path):
        with open(cmds_path) as f:
            cmds = f.read().strip()
        lines += ["### The exact commands", "",
                  "As run by `tests/bench/run.sh` (paths relative to the repo; each load once per round):", "",
                  "```sh", cmds, "```", ""]
    return "\n".join(lines), rows


def cluster_build(results):
    """The cluster section from tests/bench/cluster.sh's results."""
    m = load(results, "machine")
    elapsed = load(results, "elapsed") or {}
    live = load(results, "cluster_live")
    lines = [
        "Run of %s, commit `%s`%s; %s; took %s s. Machine: %s, %d cores, load average at the start %s "
        "(shared: other engineers' builds, tests and benches ran beside it)."
        % (m["date"], m["commit"],
           " (+%d uncommitted files)" % m["dirty_files"] if m["dirty_files"] else "",
           "quick (BENCH_QUICK=1): 1 round of %d s, live %d s" % (m["seconds_per_load"], m["live_seconds"])
           if m["quick"] else "full: %d rounds of %d s per figure (median shown), live %d s"
           % (m["rounds"], m["seconds_per_load"], m["live_seconds"]),
           elapsed.get("elapsed_s", "?"), m["cpu"], m["nproc"], " ".join(m["loadavg"])),
        "",
        "| figure | 1 node | 2 nodes |",
        "|---|---:|---:|",
    ]
    for key, label in (("list", "list chats `GET /api/chats` (50 chats), req/s"),
                       ("append", "append `POST /api/chats/{id}/messages`, req/s")):
        one, two = rounds(results, "cluster_%s_1n" % key), rounds(results, "cluster_%s_2n" % key)
        lines.append("| %s (rounds: %s / %s) | %s | %s |" % (
            label, ", ".join(n0(d["rps"]) for d in one), ", ".join(n0(d["rps"]) for d in two),
            n0(med([d["rps"] for d in one])), n0(med([d["rps"] for d in two]))))
        lines.append("| … errors, p99 ms (closed loop) | %s, %s | %s, %s |" % (
            sum(d["error_count"] for d in one), f2(med([d["closed_loop_latency_us"]["p99"] / 1000 for d in one])),
            sum(d["error_count"] for d in two), f2(med([d["closed_loop_latency_us"]["p99"] / 1000 for d in two]))))
    lines.append("")
    if live:
        d, mh = live["delivery_from_send_ms"], live["memory_held"]
        lines += [
            "| live path, 2 sync nodes | value |",
            "|---|---|",
            "| SSE subscribers wanted / opened / held to the end | %s / %s / %s |"
            % (n0(live["subscribers_wanted"]), n0(live["subscribers_opened"]),
               n0(live["subscribers_held_to_end"])),
            "| sync-svc threads per node with all held (one per stream, plus the pool) | %s |"
            % " / ".join(n0(t) for t in mh.get("sync_threads_each", [])),
            "| nginx workers, descriptors each | %d: %s |"
            % (mh["nginx_workers"], ", ".join(n0(x) for x in mh["nginx_worker_fds"])),
            "| refused / dropped | %s / %s |" % (json.dumps(live["refused"]) if live["refused"] else "none",
                                              json.dumps(live["dropped"]) if live["dropped"] else "none"),
            "| time to open them all | %s s |" % f1(live["connect_s"]),
            "| writes at %s/s | %s sent, %s answered 201, %s delivered, %s lost |"
            % (n0(live["rate"]), n0(live["writes"]), n0(live["writes_ok"]), n0(live["delivered"]),
               n0(live["lost"])),
            "| commit → delivery (POST sent → event read; an upper bound) | p50 %s ms, p99 %s ms (max %s) |"
            % (f2(d["p50"]), f2(d["p99"]), f2(d["max"])),
            "| 201 → event read | p50 %s ms, p99 %s ms |"
            % (f2(live["delivery_from_201_ms"]["p50"]), f2(live["delivery_from_201_ms"]["p99"])),
            "| memory with all held: sync-svc (both nodes), nginx workers | %s MiB, %s MiB |"
            % (f1(mh["sync_rss_kb"] / 1024), f1(mh["nginx_workers_rss_kb"] / 1024)),
            "| errors (refused, dropped, failed writes, lost) | %d |" % live["error_count"],
            "",
        ]
    cmds_path = os.path.join(results, "commands.txt")
    if os.path.exists(cmds_path):
        with open(cmds_path) as f:
            lines += ["As run by `tests/bench/cluster.sh`:", "", "```sh", f.read().strip(), "```", ""]
    return "\n".join(lines)


def write_doc(doc, body, begin=BEGIN, end=END):
    text = ""
    if os.path.exists(doc):
        with open(doc) as f:
            text = f.read()
    block = begin + "\n" + body.rstrip() + "\n" + end
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        tail = rest.split(end, 1)[1]
        text = head + block + tail
    else:
        text = (text.rstrip() + "\n\n" if text else "# Benchmarks\n\n") + block + "\n"
    os.makedirs(os.path.dirname(os.path.abspath(doc)), exist_ok=True)
    with open(doc, "w") as f:
        f.write(text)


def main():
    if sys.argv[1] == "--cluster":
        body = cluster_build(sys.argv[2])
        print(body)
        write_doc(sys.argv[3], body, CLUSTER_BEGIN, CLUSTER_END)
        return
    results, doc = sys.argv[1], sys.argv[2]
    body, _ = build(results)
    print()
    # the terminal gets the two tables and the live summary, the doc everything
    shown = body.split("### Every round")[0]
    print(shown.rstrip())
    print()
    write_doc(doc, body)


if __name__ == "__main__":
    main()
