"""The history check of the faults test: what the clients recorded (workload.py)
against what Postgres holds at the end. Each check returns (name, failures,
detail); a check passes when its list of failures is empty.

Outcomes of an attempt: 2xx is acknowledged; a 4xx (429 included) is a definite
refusal (the request was not carried out); anything else — 503, nginx's
502/504, a timeout, a reset connection — is unknown: a 503 may follow a COMMIT
whose reply was lost, so the write may or may not be in the store.
"""
import collections

import workload

ALLOWED_STATUSES = {503, 429}
KILL_WINDOW_STATUSES = {502, 504}   # nginx's answers while a killed service is away
FAULT_GRACE_S = 5.0                 # how long after a fault's end its effects may linger
MAX_SHOWN = 8


def route_service(path):
    """Which service answers a path (docs/API.md, Routing)."""
    if path.startswith("/api/sync"):
        return "sync"
    if path.startswith("/api/messages") or (path.startswith("/api/chats/")
                                             and path.split("?")[0].endswith("/messages")):
        return "messages"
    if path.startswith("/api/chats"):
        return "chats"
    if path.startswith("/api/import") or path.startswith("/api/export"):
        return "import"
    return None


def in_fault(faults, attempt, services=None):
    """The fault whose window (start .. end + grace) the attempt overlaps, if any;
    with services, only faults that killed one of them."""
    for fault in faults:
        if services is not None and not (fault.services & services):
            continue
        if attempt.started <= fault.ended + FAULT_GRACE_S and attempt.ended >= fault.started:
            return fault
    return None


def _value_of(kind, fields):
    return fields.get("content") if kind in ("append", "edit_message") else fields.get("title")


def _ack_value(doc):
    if doc is None:
        return None
    return doc.get("content") if "content" in doc else doc.get("title")


def check_store(writes, chats, messages):
    """Acknowledged writes are in the store exactly once with what was
    acknowledged; refused ones are not; positions per chat are 0..n-1."""
    results = []
    rows = {("chats", r["id"]): r for r in chats}
    rows.update({("messages", r["id"]): r for r in messages})
    by_doc = collections.defaultdict(list)
    for w in writes:
        table = "chats" if w.kind in ("create_chat", "edit_chat", "delete_chat") else "messages"
        by_doc[(table, w.doc_id)].append(w)

    lost, wrong, refused_present, unknown_rows, bad_acks = [], [], [], [], []
    for key, ops in by_doc.items():
        ops.sort(key=lambda w: w.seq)
        row = rows.get(key)
        create = ops[0]
        assert create.kind in ("create_chat", "append"), (key, create.kind)
        if create.refused:
            if row is not None:
                refused_present.append("%s %s: refused (%s) but in the store" % (
                    key[0], key[1], [a.status for a in create.attempts]))
            continue
        if row is None:
            if create.acked:
                lost.append("%s %s: acknowledged (version %s) but not in the store" % (
                    key[0], key[1], (create.doc or {}).get("version")))
            continue
        if row["user_id"] != create.user:
            wrong.append("%s %s: user %s, written by %s" % (key[0], key[1], row["user_id"],
                                                             create.user))
        if key[0] == "messages" and row["chat_id"] != create.fields["chat_id"]:
            wrong.append("%s: in chat %s, appended to %s" % (key[1], row["chat_id"],
                                                              create.fields["chat_id"]))
        if key[0] == "messages" and create.acked and create.doc \
                and create.doc.get("position") != row["position"]:
            wrong.append("%s: position %s, acknowledged %s" % (key[1], row["position"],
                                                                create.doc.get("position")))
        # each acknowledgement carries what was sent
        for w in ops:
            if w.acked and w.kind not in ("delete_chat", "delete_message") \
                    and _ack_value(w.doc) != _value_of(w.kind, w.fields):
                bad_acks.append("%s %s: sent %r, acknowledged %r" % (
                    w.kind, w.doc_id, _value_of(w.kind, w.fields), _ack_value(w.doc)))
        # the value: the last acknowledged one, or a later one whose outcome is unknown
        setters = [w for w in ops if w.kind not in ("delete_chat", "delete_message")]
        last_acked = max((i for i, w in enumerate(setters) if w.acked), default=None)
        allowed = {_value_of(w.kind, w.fields)
                   for i, w in enumerate(setters)
                   if (last_acked is None or i >= last_acked) and not w.refused}
        value = row["content"] if key[0] == "messages" else row["title"]
        if value not in allowed:
            wrong.append("%s %s: holds %r, allowed %r" % (key[0], key[1], value, sorted(allowed)))
        deletes = [w for w in ops if w.kind in ("delete_chat", "delete_message")]
        if any(w.acked for w in deletes) and not row["is_deleted"]:
            lost.append("%s %s: delete acknowledged, row not deleted" % key)
        if row["is_deleted"] and not any(not w.refused for w in deletes):
            wrong.append("%s %s: deleted, but no delete was sent" % key)
        last = ops[-1]
        if last.acked and last.doc and last.doc.get("version") != row["version"]:
            wrong.append("%s %s: version %s, last write acknowledged %s" % (
                key[0], key[1], row["version"], last.doc.get("version")))

    for key, row in rows.items():
        if key not in by_doc:
            unknown_rows.append("%s %s: in the store, never written" % key)

    duplicated = []
    origins = collections.Counter()
    for key, row in rows.items():
        value = row["content"] if key[0] == "messages" else row["title"]
        origin = (value or "").split(" ")[0]
        origins[(key[0], origin)] += 1
        if origin != key[1]:
            duplicated.append("%s %s holds the value of %s" % (key[0], key[1], origin))
    duplicated += ["%s %s: %d rows" % (t, o, n) for (t, o), n in origins.items() if n > 1]

    positions = collections.defaultdict(list)
    for row in messages:
        positions[row["chat_id"]].append(row["position"])
    gaps = []
    for chat_id, found in positions.items():
        if None in found or sorted(found) != list(range(len(found))):
            gaps.append("chat %s: positions %s" % (chat_id, sorted(found, key=lambda p: (p is None, p))))

    results.append(("acknowledged writes are in the store (lost 0)", lost,
                    "%d documents written" % len(by_doc)))
    results.append(("the store holds what was acknowledged", wrong + bad_acks, ""))
    results.append(("no write is duplicated (duplicated 0)", duplicated + unknown_rows,
                    "%d rows" % len(rows)))
    results.append(("refused writes are not in the store", refused_present, ""))
    results.append(("positions per chat are 0..n-1", gaps, "%d chats with messages" % len(positions)))
    return results


def check_versions(writes):
    """One writer's acknowledged writes take increasing versions (its user's
    versions commit in order)."""
    failures = []
    by_writer = collections.defaultdict(list)
    for w in writes:
        if w.acked and w.doc and not any(a.replay for a in w.attempts if a.acked):
            by_writer[w.writer].append(w)
    for writer, ws in by_writer.items():
        ws.sort(key=lambda w: w.seq)
        for before, after in zip(ws, ws[1:]):
            if after.doc["version"] <= before.doc["version"]:
                failures.append("%s: %s %s version %s after %s %s version %s" % (
                    writer, after.kind, after.doc_id, after.doc["version"], before.kind,
                    before.doc_id, before.doc["version"]))
    return [("a writer's acknowledged versions increase", failures,
             "%d writers" % len(by_writer))]


def check_readers(readers, writes, chats, messages):
    """Every SSE reader saw every change of its user exactly once, in version
    order: within a connection versions only grow; after a reconnect a version
    already seen may come again (the client drops it by version), an unseen lower
    one may not; at the end each reader's view equals the store."""
    order, view_diff, mismatched = [], [], []
    duplicates = 0
    store = collections.defaultdict(dict)
    for r in chats:
        store[r["user_id"]][("chats", r["id"])] = (r["version"], bool(r["is_deleted"]), r["title"])
    for r in messages:
        store[r["user_id"]][("messages", r["id"])] = (r["version"], bool(r["is_deleted"]),
                                                      r["content"])
    acked = {}
    for w in writes:
        for a in w.attempts:
            if a.acked and w.doc:
                acked[(w.user, w.doc["version"])] = (w.doc_id, _ack_value(w.doc),
                                                     bool(w.doc.get("isDeleted")))
    for reader in readers:
        seen, view = set(), {}
        last, last_connection = 0, 0
        for connection, _, change in reader.changes:
            c = workload.change_summary(change)
            version = c["version"]
            if connection == last_connection and version <= last:
                order.append("%s: version %d after %d on one connection" % (reader.name, version,
                                                                           last))
                continue
            if version <= last:
                if version in seen:
                    duplicates += 1
                    continue
                order.append("%s: unseen version %d after %d (reconnect %d)" % (
                    reader.name, version, last, connection))
                continue
            seen.add(version)
            last, last_connection = version, connection
            view[(c["table"], c["id"])] = (version, c["deleted"], c["value"])
            ack = acked.get((reader.user, version))
            if ack and (ack[0] != c["id"] or (ack[1] is not None and ack[1] != c["value"])
                        or ack[2] != c["deleted"]):
                mismatched.append("%s: version %d is %r, acknowledged as %r" % (
                    reader.name, version, (c["id"], c["value"], c["deleted"]), ack))
        expected = store.get(reader.user, {})
        if view != expected:
            missing = [k for k in expected if view.get(k) != expected[k]]
            extra = [k for k in view if k not in expected]
            view_diff.append("%s: %d documents differ from the store (%s), %d unknown (%s)" % (
                reader.name, len(missing),
                ", ".join("%s %s store %s saw %s" % (k[0], k[1], expected[k][:2],
                                                     view.get(k, (None,))[:2])
                          for k in missing[:3]), len(extra), extra[:3]))
    return [
        ("SSE readers see versions in order, each once per connection", order,
         "%d readers, %d changes, %d duplicates after reconnects (dropped by version)" % (
             len(readers), sum(len(r.changes) for r in readers), duplicates)),
        ("SSE readers end with exactly the store (no change lost)", view_diff, ""),
        ("SSE changes carry what was acknowledged", mismatched, ""),
    ]


def check_statuses(attempts, faults, client_timeout_s):
    """No answer other than 2xx, 503 and 429; nginx's 502/504 only while the
    service behind the route was killed; no request left without an answer
    (a hang) and no connection error outside a fault."""
    unexpected, hung, errors_outside = [], [], []
    for a in attempts:
        if a.status is None:
            if a.ended - a.started >= client_timeout_s - 0.5:
                hung.append("%s %s: no answer within %d s" % (a.method, a.path, client_timeout_s))
            elif in_fault(faults, a) is None:
                errors_outside.append("%s %s: %s outside any fault" % (a.method, a.path, a.error))
            continue
        if 200 <= a.status < 300 or a.status in ALLOWED_STATUSES:
            continue
        service = route_service(a.path)
        if a.status in KILL_WINDOW_STATUSES and service \
                and in_fault(faults, a, {service}) is not None:
            continue
        fault = in_fault(faults, a)
        unexpected.append("%s %s: %d%s" % (a.method, a.path, a.status,
                                           " during %s" % fault.name if fault else ""))
    counts = collections.Counter(a.status if a.status is not None else a.error for a in attempts)
    detail = ", ".join("%s: %d" % (k, n) for k, n in sorted(counts.items(), key=str))
    return [("only 2xx, 503 and 429 (502/504 only while a service is killed)", unexpected, detail),
            ("no request hangs (answer within %d s)" % client_timeout_s, hung, ""),
            ("no connection error outside a fault", errors_outside, "")]


def recovery(faults, writes, readers, bound_s):
    """Per fault: time from its end to the first acknowledged write sent after it,
    and to the first delivery of such a write to a reader. Fills fault.recovery."""
    first_ack = []
    for w in writes:
        for a in w.attempts:
            if a.acked and w.doc and a.method != "GET":
                first_ack.append((a.started, a.ended, w.user, w.doc["version"]))
    first_ack.sort()
    arrivals = collections.defaultdict(lambda: None)
    for reader in readers:
        for _, arrived, change in reader.changes:
            key = (reader.user, change["version"])
            if arrivals[key] is None or arrived < arrivals[key]:
                arrivals[key] = arrived
    failures = []
    for fault in faults:
        after = [x for x in first_ack if x[0] >= fault.ended]
        write_s = min((x[1] for x in after), default=None)
        delivered = [arrivals[(x[2], x[3])] for x in after if arrivals[(x[2], x[3])] is not None]
        event_s = min(delivered, default=None)
        fault.recovery_write = None if write_s is None else write_s - fault.ended
        fault.recovery_event = None if event_s is None else event_s - fault.ended
        if fault.recovery_write is None or fault.recovery_write > bound_s:
            failures.append("%s: no acknowledged write within %d s of its end" % (fault.name, bound_s))
        if fault.recovery_event is None or fault.recovery_event > bound_s:
            failures.append("%s: no write delivered to a reader within %d s of its end" % (
                fault.name, bound_s))
    return [("service returns after every fault (write and delivery within %d s)" % bound_s,
             failures, "%d faults" % len(faults))]
