/*
Package store is the durable storage of a veche relay: Automerge documents, as
a snapshot plus the incremental chunks saved since, and the sync state of
every peer the relay talks to.

The Store interface is what the relay needs; Bolt implements it on a single
bbolt file. The package storetest holds the conformance suite that every
implementation must pass.

# Layout

A data directory holds one bbolt file, veche.db (see FileName). Its buckets:

	docs/<id>/snapshot         compacted Automerge save (absent until the first Compact)
	docs/<id>/chunks/<seq>     incremental saves since the snapshot; seq is a
	                           big-endian uint64 from the bucket's NextSequence,
	                           so chunks sort in append order
	docs/<id>/meta             Meta as JSON: {"v":1,"created":…,"updated":…,
	                           "heads":[…],"snapshotBytes":…,"chunkBytes":…,"chunks":…}
	sync/<storageId>/<docId>   the persisted sync state of one peer for one document

<id> is the document id's bytes, or for a shadow the relay keeps of a
document for a council that may not read it (server/decoy.go) the one key
"shadow/<council>/<documentId>", never a document id; the store treats
both alike. <storageId> is the key the relay keeps a peer's
state under (its principal, a zero byte, and the storage id the peer gave); both are
non-empty and at most MaxIDLen bytes. This package creates docs and sync on
Open. Credentials (auth.go) live under auth, whose sub-buckets are created by
the first write that needs them:

	auth/tokens/<sha256>       TokenRecord as JSON, under the SHA-256 of the token
	auth/invites/<sha256>      InviteRecord as JSON, under the SHA-256 of the code
	auth/owners/<documentId>   the documentId of the council owning the document

Secrets never reach the store: package server/auth hashes them first. Other
top-level buckets (audit) belong to other code.

A document is rebuilt by loading the snapshot, if any, then applying the
chunks in order; Load returns exactly that in a Document. Meta keeps the sizes
and heads so a relay can decide on compaction, or answer "what heads do you
have", without reading the chunks.

# Durability

Every write returns only after the transaction that holds it is committed and
fsync'd (unless Options.NoSync, which is for tests). A relay may therefore
advertise a change as soon as Append returns: a crash of the process or the
machine at any later instant does not lose it. A write that returned an error
did not happen. Reads return copies, never memory of the bbolt map, so the
caller may keep them.

A data directory is opened by one process at a time; bbolt holds an flock on
the file. A second Open, from another process or the same one, fails after
Options.LockTimeout with an error wrapping ErrLocked instead of waiting
forever.

# Group commit

An fsync costs milliseconds on a good disk and far more on an SD card, and a
relay serving many peers appends to many documents at once. An Append or
SaveSyncState that starts while another is under way therefore goes through
bbolt's DB.Batch: calls arriving within Options.MaxBatchDelay of each other
(up to Options.MaxBatchSize of them) share one transaction and one fsync, and
each returns when that transaction is durable. One that starts while no other
is under way commits at once (DB.Update): a lone busy document does not wait
MaxBatchDelay for company that is not coming, nor hand its commit to the
batch timer's goroutine (groupCommit in bolt.go). Stats reports how many
commits the appends took.

DB.Batch may run a call's function more than once (when another call in the
same batch fails, the batch is retried without it), so the functions derive
everything — time, chunk sequence, sizes — from the transaction they are
given.

# Compaction

Chunks accumulate with every Append. When they outweigh the snapshot
(Meta.ChunkBytes > Meta.SnapshotBytes is the usual rule; the relay decides),
the relay loads the document, saves it whole with Automerge, and calls
Compact with that save and the number of chunks it covers. Compact replaces
the snapshot, deletes that many of the oldest chunks and updates Meta in one
transaction, so a crash leaves either the old state or the new one. Chunks
appended after the relay read the document are not covered and survive,
which makes compaction safe without stopping writers.

# Backups

Backup copies the whole file from a read transaction (bbolt Tx.WriteTo) while
the relay keeps running. The copy is consistent as of the transaction's
start; saved as dir/veche.db, it opens with Open.
*/
package store
