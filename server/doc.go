// Package server is the relay engine: an Automerge repo backed by a
// store.Store, serving any number of peer connections that a transport
// hands it (Relay.Accept, Relay.Start, Relay.Dial). It knows nothing of
// HTTP.
//
// # Types
//
//   - Relay: the documents in memory, the connected peers, the quarantine.
//   - peer: one connection. Each burst of messages is read and handled on
//     a goroutine of its own that ends once nothing more has arrived; over
//     a Conn that calls back when input arrives (ReadNotifier: wsconn's
//     shared epoll set) no goroutine waits in between, and Start returns
//     at once (Accept and Dial wait for the session's end). Its outbox
//     (outbox.go: the bounded send queue and the bulk lane) is written by
//     a goroutine that runs only while frames wait. An idle peer holds no
//     goroutine and a few KiB (issue 11).
//   - synchronizer: one document in memory and the sync state of every
//     peer syncing it. It has an id, what peers call the document, and a
//     key, where it is stored and held in Relay.docs: the id, or for a
//     shadow "shadow/<scope>/<id>".
//   - shadows (decoy.go): what a principal that may not read a taken id
//     gets when it writes there — a stored document of its scope (its
//     council), served under that id to that scope only, exactly as the
//     new document it would have made under a free id, so that neither
//     the first answer nor anything after it (another connection, a
//     fellow member, a restart, REST, the creation quota) tells a taken
//     id from a free one. Why this and not an answer that forgets: a
//     stand-in that lasts only as long as the connection is itself the
//     oracle, the next connection finding the id empty.
//   - quarantine: input that crashed the Automerge core, the principals
//     suspended for sending it, stored documents that crash it on load.
//
// # The path of a sync message
//
// peer.readBurst decodes a frame (package wire), checks the rate limit,
// and peer.handleSync asks Relay.route which document serves the id to
// the principal (decoy.go): the document itself when Access lets it read
// it, else its scope's shadow of it, else a new document it may create —
// the id itself when nobody holds it, a new shadow when it is taken —
// else none (doc-unavailable); the synchronizer's deliver then runs on the same
// goroutine under synchronizer.mu: receiveSync refuses writes without a
// grant and writes past the size limit, then screen (contain.go) refuses
// quarantined changes and runs the message through the sandbox, and only
// then does the relay's own core apply it. flush commits (fsync) before
// it generates any message to a peer: durable before advertised.
//
// Policy plugs in through Options.Access and four optional interfaces it
// may implement, never by type: a CommitHook hears of every commit (Grants
// derives its grants from the committed fact log there, before any peer
// is answered), a CreationQuota bounds the documents a principal
// creates over the websocket (shadows included, counted by their keys),
// a CreatorScope names the principals who share what one creates
// (Grants: its council), which is who shares its shadows, and a
// CreationLedger tells an id someone created but has not written yet
// (taken: another council writing there gets a shadow).
//
// # Pacing
//
// A quiet document flushes at once (flushBudget: a few flushes back to
// back); a busy one once per interval, which the relay's pacer sets
// (pacing.go) from two loads: the relay's CPU (Options.CPU, by default
// getrusage of this process over the last second) as a share of its
// cores, and the document's fan-out (changes per second reaching it over
// the last quarter second × its peers). Each is placed between its spare
// and busy thresholds; the higher decides: MinSyncInterval at spare,
// SyncInterval at busy, geometric in between. settle re-arms the flush
// timer when a flush is due sooner than it fires.
//
// # Thin links
//
// synchronizer.answer decides what a peer is sent (transfer.go): a peer
// whose last message announced empty heads and the version 2 capability
// (package syncmsg reads the flags) gets the document saved and
// compressed in one v2 message, after its sync state was told the peer
// will hold those heads; a v2 peer lacking much gets the document instead
// of its history; any answer over Options.MaxMessageSize is cut into
// causally ordered slices. The limit is the peer's own once its link has
// shown it drops messages of that size (linkfit.go: a phone that comes
// back twice in a row with the heads it had gets messages half the size
// it was sent; Relay.fit remembers it per principal, senderId and
// document), so that every connection of a link that drops
// every few seconds adds to what the phone holds. One message goes to the
// bounded send queue as before (an ephemeral one to its own lane of 64,
// which sheds the oldest and is written after the queue); slices go to
// the peer's bulk lane (bulk.go), which the write loop drains only when
// the other two are empty (outbox.go), and the document
// generates nothing more for that peer until the write loop reports the
// last slice written (synchronizer.sent). Peer.queued counts the bytes in
// both; Relay.Traffic adds what the connection holds unacknowledged.
//
// # Containment
//
// automerge-go wraps automerge-rs 0.5 built with panic=abort: a panic in
// the core (and malformed changes with valid checksums do panic it, see
// testdata/crashers) ends the process, and recover() cannot catch it. So
// the core runs contained, as a validation sandbox (package sandbox): a
// few long-lived worker processes of the same binary hold a mirror of
// every document in memory (each document always on the same worker) and
// a sync state per peer of it, and every sync message from a peer meets
// the core there first — the same decoding and apply_changes on the same
// document state, then the generation of the answer from that peer's
// state (generation reads what the message announced and the history it
// added, and crashes of its own live there: automerge.rs:916, from
// changes that apply but leave the document unable to answer, and
// sync/bloom.rs:74, from a bloom filter claiming entries without bits),
// then, when the message moved the heads, the clock of the new heads,
// which answering a peer that holds them computes first. That is not in
// the sender's answer: a change whose sequence number skips ahead of its
// actor's applies and answers its sender without harm, but the clock of
// any heads that include it indexes past the actor's changes
// (automerge.rs:916 again), so the relay's own core crashed the first time
// it answered a peer holding them — a new phone sent the compressed
// document (recorded as held), or the sender's next acknowledgement, which
// skips the sandbox as routine (see synchronizer.routine). Loading a
// document in a worker ends with the same answer. The clock of the
// document's own heads does not always meet such a change, though: a
// phone partway through its first sync reports heads that are only part
// of the document, and the clock of those crashed the relay answering it
// (testdata/crashers/*-916-40-newpeer-*, in one run of three). So the
// worker also computes, after a message and after a load, the clock of
// each actor's latest new change alone (new_clocks), which meets it every
// time; the relay's own core does the same without a sandbox
// (sandbox.ProbeClocks, under the message's crash mark). Last, the worker
// searches every key of every map and the gaps between them
// (sandbox/worker.c, probe_document): a change can put an op keyed like a
// list element into a map, which the core applies, answers, saves and
// iterates without harm, but which panics any search for a key in that
// map (op_set.rs:447) — and the relay searches maps in its own core after
// every commit (Grants reads the root's "schema") and in every REST write.
// The converse, an op keyed like a map entry in a list or a text (a map
// made a text in the change that sets its key, say), is as harmless until
// a write inserts just after it and takes its key: merging a REST write's
// fork back (applyLocal) then panics at the same place, so one member's
// message made a council's document unavailable at its next edit. So
// the worker also checks every list and text (a map range of each yields
// such elements, and none in an honest document) and, finding one,
// crashes as that merge would, on forks of its copy. Only a change keyed
// by list position can misplace a key in a map (syncmsg.KeysByPosition),
// and only one that does more than set values under map keys
// (syncmsg.SetsValuesOnly), or sets one in an object that is not a map —
// a list or a text that holds no op yet — can misplace one in a list or
// a text; so the maps are searched only after the former, and the lists
// checked only after the latter: a message that only sets values in the
// root and in maps a walk has met (syncmsg.Targets against the worker's
// known_maps, or synchronizer.knownMaps; an object's kind never changes)
// walks nothing, and ordinary map writes are such.
// Only a message that survived reaches the relay's core. A worker's loop
// is C over the core's C API (sandbox/worker.c), so a request costs the
// core's work and two wake-ups, not a Go scheduler's. Cheap checks in
// Go come first (validateSyncMessage: the envelope and every bloom filter
// in full), so the commonest malformed input costs no worker at all.
//
// A worker that dies is restarted at once; the one message it was
// handling (one request in flight per worker) is the culprit: its
// crashing change — found by applying the message's changes one at a time
// in the sandbox, so the honest history travelling with it is not refused
// — or else the whole message, by hash, is recorded durably in the
// quarantine with the document id and principal, the principal is
// suspended and cut, and the input is refused from any peer from then on.
// Stored documents go through a worker before the relay loads them, so a
// poisoned document written by an older version is marked unavailable
// instead of crashing the relay at every start; so does a document whose
// own saved state a worker cannot load.
//
// A change can also apply, answer and store without complaint yet leave a
// document whose saved form Automerge refuses to load again ("mismatching
// heads": columns that do not encode back to the bytes the change's hash
// was taken of; a hostile member finds one in a few tries of mutated
// bytes, testdata/unsaveable). Checking every message for that would cost
// a save and a load of the whole document (3.6 ms at 1,000 changes), so
// the relay instead never lets such a saved form replace what loads:
// compaction checks the snapshot reloads before it replaces the chunks
// (synchronizer.reloads), the compressed document a new phone would get is
// checked the same way (else it gets the changes), and the sandbox's copy
// of such a document is loaded from its changes rather than marked
// unavailable. Stock clients (automerge 3) still take the change itself
// but cannot reload a document saved with it: that is not contained here.
//
// What the sandbox buys where it stands first: the relay's structure stays as it is
// — one synchronizer per document, committing under its own lock,
// durable before advertised — and a crash costs one message, not a
// restart of the engine: no connection drops, no document is reloaded,
// no client has to reconnect. Its costs: every untrusted message is
// applied twice (once in a worker, once in the relay) and answered once
// more, in the worker (about 0.3 ms of CPU per change more in
// interop/testdata/bench/load.mjs, most of it the round trip to a
// sleeping process; see README), the workers hold a second copy of the
// documents in memory, and after a worker restarts each document's mirror
// is rebuilt from the relay's copy on its next message (100 open
// documents serve again within 0.5 s, TestRecoveryTime). Its limit: it
// predicts the relay's core by running the same input on the same state.
// The worker's sync state of a peer is fed the same messages as the
// relay's but answers every message where the relay answers once per
// flush, and a local write's changes are mirrored as they are made; an
// input that crashed only with the relay's exact sync state would still
// reach the relay. One such class was found by a hostile trial (answers
// to a peer holding the new heads, above) and is now answered in the
// worker too; should another slip through to the compressed-document
// answer, the worker's crash there marks the document unavailable before
// the relay's core answers (transfer.go). The fuzzer (package sandbox,
// TestMutationFuzz) looks for crashes in the same calls.
//
// # The supervisor
//
// Prediction has gaps (one was found, above), so a crash in the relay's
// own core must not end the relay either. veche serve runs the relay as a
// child process of itself and starts it again at once when it dies
// (cmd/veche/supervise.go; 30–40 ms to serve again on this machine, and
// stock clients reconnect on their own). Before every call into the core
// the synchronizer marks what it is doing (enter/leave, package
// crashmark): the document, the operation, and for a peer's sync message
// or a principal's bundle, the principal and the input itself, in memory
// the supervisor made and keeps across its children. A relay that dies in
// the core leaves its marks; the next one reads them before it serves
// (Relay.Recover, recover.go). A principal's input that was in the core
// is quarantined as a worker's crash would have it (its crashing change
// found in a worker when there is one), and its sender suspended (only
// the sender when the input was larger than its mark holds: a bundle may
// be larger than a frame); any
// other call (answering, saving, loading, reading) crashed on the
// document's own state, which is marked unavailable. So that a stored
// change that crashes only later (written by an older version) blames the
// document, not the next member's message, a load without a sandbox ends
// with the probe a worker's load ends with (below); and an input whose
// document, as stored, a worker cannot load is not blamed. When several calls
// were in the core at once, only input that also crashes a worker is
// blamed. Committed changes are never lost (a crash comes before a commit
// or after it), and durable before advertised holds as it always does.
//
// Which line stands first is veche serve's choice (--sandbox, see
// cmd/veche), and its default is auto: the supervisor alone while nothing
// has crashed the core, and the sandbox in front of it from the relay's
// next start after a crash, for as long as a quarantine incident is less
// than a day old (and at the start after any death by abort, even one
// with no call marked, which blames nothing and records no incident). Why: the sandbox doubles the core's work on every
// change of every honest member — each untrusted message applied and
// answered twice — to spare the connections a crash no honest member
// causes (0.6–0.7 ms of CPU per change against 0.45 in the burst
// benchmark, 2.4 ms against about 1.6 with 5,000 changes preloaded; see
// README, Performance). The supervisor costs nothing per message but its
// marks and the probe below, and a crash costs what the supervised engine
// is allowed to: the relay serves again within 50 ms, clients reconnect
// on their own and converge, nothing committed is lost, the input is
// quarantined and its sender suspended. A first attacker thus costs one
// restart; the sandbox then stands first, so a second one, or the same
// under another name, costs only their own message.
//
// For that the supervisor must blame what the sandbox would. Without a
// sandbox, a peer's message with changes (and a principal's bundle) is
// followed in the relay's own core by the worker's after-check
// (synchronizer.probe, sandbox.Probe: the clock of the new heads, a
// search of every map key with its puts rolled back, and the check of
// every list and text; in full for a message the core took but Go's
// reader could not, such as one with bytes after its changes) while the
// input's crash mark is still set. The two known classes that apply without harm
// and crash the core only later, after the commit — answering a peer
// that holds the new heads, or reading the council (the grants do right
// after the commit) — crash it there instead, so their sender is blamed,
// not the document (TestHolderCrashBlamesItsSender, both classes). A
// crash that still comes only after a commit (answering, saving,
// reading) marks the document unavailable, as it would behind the
// sandbox if a class slipped past the worker. --sandbox always keeps
// every crash from dropping a connection, at the sandbox's CPU; embedding
// code and the in-process tests, which have no supervisor, always get
// the sandbox. Options.Sandbox is what the relay gets; the relay itself
// only knows whether it has one.
//
// Held-back changes. The core keeps a change whose dependencies it lacks
// waiting, and applies it in the call that brings them — whoever's input
// that is. A member who sends a crashing change that depends on a change
// an honest member holds but has not sent yet would thus crash the core
// (and a sandbox worker, whose copy waits the same way) under the honest
// member's message: with either line, the honest member was suspended
// and their change refused from anyone (found by a hostile trial,
// TestReleasedCrashBlamesItsSender). So the relay notes, after each
// principal's changes, whether the core now holds changes waiting and
// for whom (synchronizer.noteHeld, sandbox.Waiting), and when another
// principal's input brings one of the dependencies they wait for
// (sandbox.MissingDeps; ordinary input brings none and costs one look)
// it drops them before that input meets the core (dropHeldFor): it
// commits, loads the document again from the store (which never holds
// waiting changes; the worker's copy with it), starts the other peers'
// sync states afresh, and cuts the waiting changes' sender, whose client
// reconnects and sends them again, now with their dependencies in.
// Held-back changes thus only ever meet the core with their own sender's
// input.
//
// # Dialing
//
// A relay that dials (Relay.Dial: a replica reaching a relay, a village
// relay linking to its district) starts the sync of what Options.Share (a
// SharePolicy) names for the other side right after the handshake
// (share.go): a sync message for a document it holds, a request for one it
// lacks. Options.Observer (a SyncObserver) hears the heads each sync
// message from a peer announces, and doc-unavailable answers, so a replica
// can tell when it has converged. Automerge says nothing to a peer whose
// last message announced the relay's heads — a peer that connects in
// sync, and a peer whose change was applied and which, before a paced
// flush, answered an older message of the relay with the heads that change
// made (Automerge then counts the change as acknowledged, though the peer
// never heard so). So a synchronizer remembers the heads it last announced
// to each peer (peerState.advertised), and flush sends a message of the
// relay's heads (headsMessage: the heads, and a have of exactly them)
// whenever Automerge has nothing to say and the peer has not heard the
// current heads: every change a peer sends is acknowledged, after its
// commit. Relay.Adopt makes a document from changes that come from
// outside the protocol (a bundle) on a relay that does not hold it yet.
//
// # Metrics
//
// Options.Metrics (interface Metrics, metrics.go; NopMetrics by default)
// is told what the relay does: connections and handshakes, messages and
// bytes by type (MessageTypeLabel keeps types a peer invents to "other"),
// changes applied, commit and generation latency, cuts, refusals,
// quarantines. Code that does something worth counting calls r.metrics.X
// on the goroutine doing it, often with synchronizer.mu held; an
// implementation is a leaf: cheap, concurrent, never calling back.
//
// # Locks
//
// synchronizer.mu before Grants.mu before Relay.mu; quarantine.mu,
// ephemeralFilter.mu and linkFit.mu are leaves. A sandbox request is made with
// synchronizer.mu held (the document must not change under it), and the
// sandbox worker's own mutex is a leaf: it never calls back into the
// relay. A crash mark's slot (enter/leave) is taken with synchronizer.mu
// held and given back before the next call into the core: no goroutine
// holds two, so waiting for a free one cannot deadlock. fsync runs under
// synchronizer.mu on purpose: a document's commit must finish before it
// generates, and other documents commit in parallel (group commit in the
// store). A peer's write loop takes
// synchronizer.mu (synchronizer.sent, after a sliced answer's last slice)
// and holds no lock while it does; under synchronizer.mu the relay only
// queues for a peer (send, sendBulk: outbox.mu is a leaf), never waits
// on its write loop.
package server
