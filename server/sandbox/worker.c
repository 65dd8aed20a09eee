// The sandbox worker's request loop, in C: see worker.go for why, and
// protocol.go for the frames it reads and writes.

#include <errno.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "worker.h"

// The Automerge C API, as automerge-go's static library exports it
// (automerge.h in github.com/automerge/automerge-go). The declarations are
// weak so that cgo's own test link of this package, which does not see
// that library, succeeds; the program's link resolves them, since
// automerge-go uses every one of them.
struct AMresult;
struct AMitem;
struct AMdoc;
struct AMsyncState;
struct AMsyncMessage;
struct AMactorId;
typedef struct AMbyteSpan {
	const uint8_t *src;
	size_t count;
} AMbyteSpan;

#define WEAK __attribute__((weak))
extern struct AMresult *AMcreate(const struct AMactorId *actor_id) WEAK;
extern struct AMresult *AMload(const uint8_t *src, size_t count) WEAK;
extern struct AMresult *AMloadIncremental(struct AMdoc *doc, const uint8_t *src, size_t count) WEAK;
extern struct AMresult *AMsyncStateInit(void) WEAK;
extern struct AMresult *AMsyncMessageDecode(const uint8_t *src, size_t count) WEAK;
extern struct AMresult *AMreceiveSyncMessage(struct AMdoc *doc, struct AMsyncState *state, const struct AMsyncMessage *msg) WEAK;
extern struct AMresult *AMgenerateSyncMessage(struct AMdoc *doc, struct AMsyncState *state) WEAK;
extern uint8_t AMresultStatus(const struct AMresult *result) WEAK;
extern AMbyteSpan AMresultError(const struct AMresult *result) WEAK;
extern struct AMitem *AMresultItem(struct AMresult *result) WEAK;
extern void AMresultFree(struct AMresult *result) WEAK;
extern bool AMitemToDoc(struct AMitem *item, const struct AMdoc **value) WEAK;
extern bool AMitemToSyncState(struct AMitem *item, struct AMsyncState **value) WEAK;
extern bool AMitemToSyncMessage(const struct AMitem *item, const struct AMsyncMessage **value) WEAK;
// AMitems is returned by value: its layout as automerge.h declares it.
struct AMitems {
	uint8_t detail[8 + 8 + 8];
};
extern struct AMresult *AMgetHeads(struct AMdoc *doc) WEAK;
extern struct AMitems AMresultItems(struct AMresult *result) WEAK;
extern size_t AMitemsSize(const struct AMitems *items) WEAK;
extern struct AMitem *AMitemsNext(struct AMitems *items, ptrdiff_t n) WEAK;
extern bool AMitemToChangeHash(const struct AMitem *item, AMbyteSpan *value) WEAK;
extern struct AMresult *AMgetChanges(struct AMdoc *doc, const struct AMitems *have_deps) WEAK;
struct AMobjId;
extern struct AMresult *AMmapRange(const struct AMdoc *doc, const struct AMobjId *obj_id, AMbyteSpan begin, AMbyteSpan end, const struct AMitems *heads) WEAK;
extern struct AMresult *AMlistRange(const struct AMdoc *doc, const struct AMobjId *obj_id, size_t begin, size_t end, const struct AMitems *heads) WEAK;
extern struct AMresult *AMmapGet(const struct AMdoc *doc, const struct AMobjId *obj_id, AMbyteSpan key, const struct AMitems *heads) WEAK;
extern struct AMresult *AMmapPutNull(struct AMdoc *doc, const struct AMobjId *obj_id, AMbyteSpan key) WEAK;
extern uint8_t AMobjObjType(const struct AMdoc *doc, const struct AMobjId *obj_id) WEAK;
extern bool AMitemKey(const struct AMitem *item, AMbyteSpan *value) WEAK;
extern const struct AMobjId *AMitemObjId(const struct AMitem *item) WEAK;
extern uint32_t AMitemValType(const struct AMitem *item) WEAK;
extern size_t AMrollback(struct AMdoc *doc) WEAK;
extern size_t AMpendingOps(const struct AMdoc *doc) WEAK;
struct AMchange;
extern struct AMresult *AMchangeActorId(const struct AMchange *change) WEAK;
extern uint64_t AMchangeSeq(const struct AMchange *change) WEAK;
extern AMbyteSpan AMchangeHash(const struct AMchange *change) WEAK;
extern AMbyteSpan AMactorIdBytes(const struct AMactorId *actor_id) WEAK;
extern bool AMitemToActorId(const struct AMitem *item, const struct AMactorId **value) WEAK;
extern bool AMitemToChange(struct AMitem *item, struct AMchange **value) WEAK;
extern struct AMresult *AMresultCat(const struct AMresult *dest, const struct AMresult *src) WEAK;
extern struct AMresult *AMitemFromChangeHash(AMbyteSpan value) WEAK;
extern struct AMresult *AMgetMissingDeps(struct AMdoc *doc, const struct AMitems *heads) WEAK;
extern size_t AMresultSize(const struct AMresult *result) WEAK;
extern struct AMresult *AMfork(struct AMdoc *doc, const struct AMitems *heads) WEAK;
extern struct AMresult *AMlistPutNull(struct AMdoc *doc, const struct AMobjId *obj_id, size_t pos, bool insert) WEAK;
extern struct AMresult *AMcommit(struct AMdoc *doc, AMbyteSpan message, const int64_t *timestamp) WEAK;
extern struct AMresult *AMmerge(struct AMdoc *dest, struct AMdoc *src) WEAK;
struct AMactorId;
extern const struct AMactorId *AMobjIdActorId(const struct AMobjId *obj_id) WEAK;
extern uint64_t AMobjIdCounter(const struct AMobjId *obj_id) WEAK;
extern AMbyteSpan AMactorIdBytes(const struct AMactorId *actor_id) WEAK;
#define AM_OBJ_TYPE_LIST 1
#define AM_OBJ_TYPE_MAP 2
#define AM_OBJ_TYPE_TEXT 3
#define AM_VAL_TYPE_OBJ_TYPE (1u << 12)

#define AM_STATUS_OK 0

// release frees a result, if there is one (AMresultFree requires one).
static void release(struct AMresult *r) {
	if (r) {
		AMresultFree(r);
	}
}

// Ops and replies: keep in step with protocol.go.
enum {
	OP_OPEN = 'o',
	OP_CHECK = 'c',
	OP_RECEIVE = 'r',
	OP_LEAVE = 'l',
	OP_APPLY = 'a',
	OP_FORGET = 'f',
	OP_PING = 'p',
	REPLY_OK = 'k',
	REPLY_REJECTED = 'r',
};

// A peer's sync state for one document.
struct peer {
	char *key;
	size_t len;
	struct AMresult *owner; // owns state
	struct AMsyncState *state;
	struct peer *next;
};

static void *xmalloc(size_t n);

// known_maps is a set of a document's objects known to be maps, by the
// actor and counter of the op that made each: an object's kind never
// changes, so the set only grows, and a message whose changes only set
// values in known maps (and the root) cannot have put an op keyed like a
// map entry into a list or a text (see probe_document).
struct known_maps {
	struct known_map {
		uint8_t *actor; // NULL: a free slot
		size_t len;
		uint64_t counter;
	} *slots;
	size_t n, cap; // cap is 0 or a power of two
};

static size_t known_hash(const uint8_t *actor, size_t len, uint64_t counter) {
	uint64_t h = 1469598103934665603u ^ counter;
	for (size_t i = 0; i < len; i++) {
		h = (h ^ actor[i]) * 1099511628211u;
	}
	return (size_t)(h ^ (h >> 29));
}

static struct known_map *known_slot(struct known_maps *k, const uint8_t *actor, size_t len, uint64_t counter) {
	if (k->cap == 0) {
		return NULL;
	}
	for (size_t i = known_hash(actor, len, counter) & (k->cap - 1);; i = (i + 1) & (k->cap - 1)) {
		struct known_map *m = &k->slots[i];
		if (!m->actor || (m->len == len && m->counter == counter && memcmp(m->actor, actor, len) == 0)) {
			return m;
		}
	}
}

static bool known(struct known_maps *k, const uint8_t *actor, size_t len, uint64_t counter) {
	struct known_map *m = known_slot(k, actor, len, counter);
	return m && m->actor;
}

static void know(struct known_maps *k, const uint8_t *actor, size_t len, uint64_t counter) {
	if (2 * (k->n + 1) > k->cap) {
		struct known_maps bigger = {.cap = k->cap ? 2 * k->cap : 64};
		bigger.slots = calloc(bigger.cap, sizeof *bigger.slots);
		if (!bigger.slots) {
			fputs("sandbox worker: out of memory\n", stderr);
			abort();
		}
		for (size_t i = 0; i < k->cap; i++) {
			struct known_map *m = &k->slots[i];
			if (m->actor) {
				*known_slot(&bigger, m->actor, m->len, m->counter) = *m;
				bigger.n++;
			}
		}
		free(k->slots);
		*k = bigger;
	}
	struct known_map *m = known_slot(k, actor, len, counter);
	if (!m->actor) {
		m->actor = xmalloc(len);
		memcpy(m->actor, actor, len);
		m->len = len;
		m->counter = counter;
		k->n++;
	}
}

static void forget_known(struct known_maps *k) {
	for (size_t i = 0; i < k->cap; i++) {
		free(k->slots[i].actor);
	}
	free(k->slots);
	*k = (struct known_maps){0};
}

// all_known reports whether every object of a message's targets (the
// fifth field: actor length, actor, counter, as uvarints and bytes) is in
// k; false for a field it cannot read.
static int uvarint(const uint8_t **p, const uint8_t *end, uint64_t *v);
static bool all_known(struct known_maps *k, const uint8_t *f, size_t n) {
	for (const uint8_t *p = f, *end = f + n; p < end;) {
		uint64_t len, counter;
		if (uvarint(&p, end, &len) != 0 || len > (uint64_t)(end - p)) {
			return false;
		}
		const uint8_t *actor = p;
		p += len;
		if (uvarint(&p, end, &counter) != 0 || !known(k, actor, (size_t)len, counter)) {
			return false;
		}
	}
	return true;
}

// A mirror document and the sync states of its peers.
struct doc {
	char *key;
	size_t len;
	struct AMresult *owner; // owns doc
	struct AMdoc *doc;
	struct peer *peers;
	// held_back: a message keyed ops by list position (or did more than
	// set values) while the document held changes waiting for their
	// dependencies, which a later message may release: until none wait,
	// every message searches the maps and checks the lists.
	bool held_back;
	// maps: the document's maps its walks have met (probe_document).
	struct known_maps maps;
	struct doc *next;
};

#define BUCKETS 16384
static struct doc *table[BUCKETS];

static size_t hash(const uint8_t *p, size_t n) {
	uint32_t h = 2166136261u; // FNV-1a
	for (size_t i = 0; i < n; i++) {
		h = (h ^ p[i]) * 16777619u;
	}
	return h % BUCKETS;
}

static void *xmalloc(size_t n) {
	void *p = malloc(n ? n : 1);
	if (!p) {
		fputs("sandbox worker: out of memory\n", stderr);
		abort();
	}
	return p;
}

static char *copy_key(const uint8_t *p, size_t n) {
	char *s = xmalloc(n);
	memcpy(s, p, n);
	return s;
}

static struct doc **find(const uint8_t *key, size_t n) {
	struct doc **d = &table[hash(key, n)];
	while (*d && !((*d)->len == n && memcmp((*d)->key, key, n) == 0)) {
		d = &(*d)->next;
	}
	return d;
}

static void free_peer(struct peer *p) {
	release(p->owner);
	free(p->key);
	free(p);
}

static void drop(const uint8_t *key, size_t n) {
	struct doc **slot = find(key, n);
	struct doc *d = *slot;
	if (!d) {
		return;
	}
	*slot = d->next;
	for (struct peer *p = d->peers; p;) {
		struct peer *next = p->next;
		free_peer(p);
		p = next;
	}
	release(d->owner);
	forget_known(&d->maps);
	free(d->key);
	free(d);
}

// The reply's text (an error, or empty) goes in reply/reply_len.
static char reply[1024];
static size_t reply_len;

static uint8_t rejected(const char *what, struct AMresult *r) {
	AMbyteSpan e = r ? AMresultError(r) : (AMbyteSpan){0};
	int n = snprintf(reply, sizeof reply, "%s%.*s", what, (int)(e.count > 900 ? 900 : e.count), e.src ? (const char *)e.src : "");
	reply_len = n < 0 ? 0 : (size_t)n >= sizeof reply ? sizeof reply - 1 : (size_t)n;
	return REPLY_REJECTED;
}

static bool failed(struct AMresult *r) { return r == NULL || AMresultStatus(r) != AM_STATUS_OK; }

// heads_of returns the document's heads, 32 bytes each, in a buffer the
// caller frees, and their count in *n (NULL and 0 when it has none).
static uint8_t *heads_of(struct AMdoc *doc, size_t *n) {
	*n = 0;
	struct AMresult *r = AMgetHeads(doc);
	if (failed(r)) {
		release(r);
		return NULL;
	}
	struct AMitems items = AMresultItems(r);
	size_t count = AMitemsSize(&items);
	uint8_t *out = count ? xmalloc(count * 32) : NULL;
	for (size_t i = 0; i < count; i++) {
		AMbyteSpan h = {0};
		struct AMitem *it = AMitemsNext(&items, 1);
		if (!it || !AMitemToChangeHash(it, &h) || h.count != 32) {
			free(out);
			release(r);
			return NULL;
		}
		memcpy(out + i * 32, h.src, 32);
	}
	release(r);
	*n = count;
	return out;
}

static size_t put_uvarint(uint8_t *p, size_t v) {
	size_t k = 0;
	while (v >= 0x80) {
		p[k++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[k++] = (uint8_t)v;
	return k;
}

// answer_holder generates what the relay answers a peer that holds the
// document's heads (the whole document it was just sent, which the relay
// records with such a claim, or a peer acknowledging what it was sent):
// a sync state told "heads H, last sync H", then an answer. A change that
// applies and answers its sender without harm can still crash the core
// here (automerge.rs:916, a change whose sequence number does not follow
// its actor's: the clock of any heads that include it indexes past the
// actor's changes), and the relay would then crash in its own core the
// first time it answers such a peer. Run after every load; after a
// message that moved the heads, changes_since_heads reaches the same
// place at a third of the cost.
static void answer_holder(struct AMdoc *doc) {
	size_t n = 0;
	uint8_t *heads = heads_of(doc, &n);
	if (n == 0) {
		free(heads);
		return;
	}
	// A version 1 sync message: heads, no needs, one have (last sync,
	// empty bloom filter), no changes.
	uint8_t *m = xmalloc(1 + 2 * (10 + n * 32) + 4);
	size_t k = 0;
	m[k++] = 0x42;
	k += put_uvarint(m + k, n);
	memcpy(m + k, heads, n * 32);
	k += n * 32;
	m[k++] = 0; // needs
	m[k++] = 1; // haves
	k += put_uvarint(m + k, n);
	memcpy(m + k, heads, n * 32);
	k += n * 32;
	m[k++] = 0; // bloom filter: no bytes
	m[k++] = 0; // changes
	free(heads);
	struct AMresult *owner = AMsyncStateInit();
	struct AMsyncState *st = NULL;
	struct AMresult *msg = AMsyncMessageDecode(m, k);
	const struct AMsyncMessage *sm = NULL;
	if (!failed(owner) && AMitemToSyncState(AMresultItem(owner), &st) && !failed(msg) && AMitemToSyncMessage(AMresultItem(msg), &sm)) {
		struct AMresult *r = AMreceiveSyncMessage(doc, st, sm);
		if (!failed(r)) {
			release(AMgenerateSyncMessage(doc, st));
		}
		release(r);
	}
	release(msg);
	release(owner);
	free(m);
}

// probe_clock asks for the changes that follow one change: the core
// computes the clock of that change alone.
static void probe_clock(struct AMdoc *doc, AMbyteSpan hash) {
	struct AMresult *one = AMitemFromChangeHash(hash);
	if (!failed(one)) {
		struct AMitems it = AMresultItems(one);
		release(AMgetChanges(doc, &it));
	}
	release(one);
}

static bool same_span(AMbyteSpan a, AMbyteSpan b) {
	return a.count == b.count && (a.count == 0 || memcmp(a.src, b.src, a.count) == 0);
}

// new_clocks computes, for every actor with changes after the n heads at
// h (32 bytes each; none: every change), the clock of that actor's
// latest such change alone — the heads a peer that has synced part of
// the document may report. A change whose sequence number skips ahead of
// its actor's (actor 5 of 5 changes says 37) is applied, answered,
// saved, and survives the clock of the document's own heads, yet the
// clock of heads that include it indexes past the actor's changes
// (automerge.rs:916): a relay answering a new phone partway through its
// first sync crashed on it, in about one run of three
// (testdata/crashers/*-916-40-newpeer-*). Probed alone, it crashes every
// time. One clock per actor, not per change: any clock that includes a
// skipped change includes its actor's latest one too.
static void new_clocks(struct AMdoc *doc, const uint8_t *h, size_t n) {
	if (!AMchangeActorId || !AMitemFromChangeHash || !AMresultCat) {
		return;
	}
	struct AMresult *have = NULL;
	for (size_t i = 0; i < n; i++) {
		struct AMresult *one = AMitemFromChangeHash((AMbyteSpan){h + 32 * i, 32});
		if (failed(one)) {
			release(one);
			release(have);
			return;
		}
		if (!have) {
			have = one;
			continue;
		}
		struct AMresult *both = AMresultCat(have, one);
		release(have);
		release(one);
		if (failed(both)) {
			release(both);
			return;
		}
		have = both;
	}
	struct AMitems before = have ? AMresultItems(have) : (struct AMitems){0};
	struct AMresult *r = AMgetChanges(doc, have ? &before : NULL);
	if (failed(r)) {
		release(r);
		release(have);
		return;
	}
	enum { maxActors = 64 };
	struct latest {
		AMbyteSpan actor, hash;
		uint64_t seq;
		struct AMresult *owner; // of actor
	} top[maxActors];
	size_t ntop = 0;
	struct AMitems items = AMresultItems(r);
	for (struct AMitem *it; (it = AMitemsNext(&items, 1)) != NULL;) {
		struct AMchange *ch = NULL;
		if (!AMitemToChange(it, &ch)) {
			continue;
		}
		struct AMresult *ar = AMchangeActorId(ch);
		const struct AMactorId *aid = NULL;
		if (failed(ar) || !AMitemToActorId(AMresultItem(ar), &aid)) {
			release(ar);
			continue;
		}
		struct latest c = {AMactorIdBytes(aid), AMchangeHash(ch), AMchangeSeq(ch), ar};
		size_t j = 0;
		while (j < ntop && !same_span(top[j].actor, c.actor)) {
			j++;
		}
		if (j == ntop && ntop < maxActors) {
			top[ntop++] = c;
		} else if (j == ntop) {
			probe_clock(doc, c.hash); // more actors than kept: this one alone
			release(ar);
		} else if (c.seq > top[j].seq) {
			release(top[j].owner);
			top[j] = c;
		} else {
			release(ar);
		}
	}
	for (size_t j = 0; j < ntop; j++) {
		probe_clock(doc, top[j].hash);
		release(top[j].owner);
	}
	release(r);
	release(have);
}

// veche_sandbox_clocks computes, for the relay's own core, the clock of
// each of the n changes at h (32 bytes each) alone — each actor's latest
// change of a message (see ProbeClocks, probe.go) — but for a change that
// is the document's only head, whose clock changes_since_heads computes.
void veche_sandbox_clocks(struct AMdoc *doc, const uint8_t *h, size_t n) {
	size_t nheads = 0;
	uint8_t *heads = heads_of(doc, &nheads);
	for (size_t i = 0; i < n; i++) {
		if (nheads == 1 && memcmp(heads, h + 32 * i, 32) == 0) {
			continue;
		}
		probe_clock(doc, (AMbyteSpan){h + 32 * i, 32});
	}
	free(heads);
}

// changes_since_heads asks for the changes that follow the document's
// heads (none): the clock of the heads, which this computes, is where
// answer_holder's crash lies (an actor's sequence number past its
// changes), at a third of the cost (about 0.2 ms on a document of 10,000
// changes, where a check costs 0.4 ms without it).
static void changes_since_heads(struct AMdoc *doc) {
	struct AMresult *h = AMgetHeads(doc);
	if (!failed(h)) {
		struct AMitems items = AMresultItems(h);
		if (AMitemsSize(&items) > 0) {
			release(AMgetChanges(doc, &items));
		}
	}
	release(h);
}

// The maps' search (probe_document, search_maps) looks up and puts, in
// every map object of the document, each key it holds, the key just
// after each (key + NUL), the least and the greatest key, then rolls the
// puts back. A change can place an op
// with a list element's key in a map (its object column mutated): the
// core applies it, answers and saves it without harm, and iterates the
// map without seeing it, but any search for a key in that map that meets
// it panics ("can only compare map keys", op_set.rs:447). The relay
// searches maps in its own core after every commit (grants read the
// root's "schema"), for every REST read (the council's view) and write,
// so such a change took the relay down at once and at every restart.
// Searching every gap between the keys meets the op wherever it sits
// (the hostile trial's fuzzer found none that these searches missed and
// a later write did not).
//
// The converse, an op keyed like a map entry in a list or a text, is
// found and made to crash by misplaced_map_keys (below). Objects deeper
// than maxDepth are not searched: nothing the relay reads is that deep.
// Costs a walk of the document's objects (not of its history).
enum { maxDepth = 32 };

// A probe's plan: the map keys to put, copied, and the range results that
// own the objects' ids, kept until the puts are done. Keys are copied
// before any put: the core's spans of keys point into its own table of
// key names, which a put of a new key may move.
struct probe {
	bool search_maps; // search (and plan puts in) maps, or only walk them
	bool check_lists; // check lists and texts for misplaced map keys
	struct known_maps *maps; // if not NULL, the maps the walk meets go here
	struct AMresult **owners;
	size_t nowners, capowners;
	struct put {
		const struct AMobjId *obj;
		uint8_t *key;
		size_t len;
	} *puts;
	size_t nputs, capputs;
	// Lists and texts holding an element keyed like a map entry.
	const struct AMobjId **misplaced;
	size_t nmisplaced, capmisplaced;
};

static void plan_put(struct probe *p, const struct AMobjId *obj, const uint8_t *key, size_t len, bool nul) {
	if (p->nputs == p->capputs) {
		p->capputs = p->capputs ? 2 * p->capputs : 64;
		p->puts = realloc(p->puts, p->capputs * sizeof *p->puts);
		if (!p->puts) {
			fputs("sandbox worker: out of memory\n", stderr);
			abort();
		}
	}
	uint8_t *k = xmalloc(len + 1);
	memcpy(k, key, len);
	k[len] = 0;
	p->puts[p->nputs++] = (struct put){obj, k, len + (nul ? 1 : 0)};
}

static void keep(struct probe *p, struct AMresult *r) {
	if (p->nowners == p->capowners) {
		p->capowners = p->capowners ? 2 * p->capowners : 16;
		p->owners = realloc(p->owners, p->capowners * sizeof *p->owners);
		if (!p->owners) {
			fputs("sandbox worker: out of memory\n", stderr);
			abort();
		}
	}
	p->owners[p->nowners++] = r;
}

// probe_object looks up every key of a map and the keys around them, and
// plans the puts; it changes nothing.
static void probe_object(struct AMdoc *doc, struct probe *p, const struct AMobjId *obj, uint8_t type, int depth) {
	if (depth > maxDepth) {
		return;
	}
	if (type == AM_OBJ_TYPE_MAP) {
		struct AMresult *r = AMmapRange(doc, obj, (AMbyteSpan){0}, (AMbyteSpan){0}, NULL);
		if (failed(r)) {
			release(r);
			return;
		}
		keep(p, r);
		if (p->maps && obj && AMobjIdActorId && AMactorIdBytes && AMobjIdCounter) {
			AMbyteSpan actor = AMactorIdBytes(AMobjIdActorId(obj));
			if (actor.src) {
				know(p->maps, actor.src, actor.count, AMobjIdCounter(obj));
			}
		}
		static const uint8_t last[] = {0xf4, 0x8f, 0xbf, 0xbf}; // U+10FFFF
		if (p->search_maps) {
			release(AMmapGet(doc, obj, (AMbyteSpan){(const uint8_t *)"", 0}, NULL));
			release(AMmapGet(doc, obj, (AMbyteSpan){last, sizeof last}, NULL));
			plan_put(p, obj, (const uint8_t *)"", 0, false);
			plan_put(p, obj, last, sizeof last, false);
		}
		struct AMitems items = AMresultItems(r);
		for (struct AMitem *it; (it = AMitemsNext(&items, 1)) != NULL;) {
			AMbyteSpan key = {0};
			if (!AMitemKey(it, &key)) {
				continue;
			}
			if (p->search_maps) {
				release(AMmapGet(doc, obj, key, NULL));
				plan_put(p, obj, key.src, key.count, true);
				struct put *after = &p->puts[p->nputs - 1];
				release(AMmapGet(doc, obj, (AMbyteSpan){after->key, after->len}, NULL));
			}
			if (AMitemValType(it) == AM_VAL_TYPE_OBJ_TYPE) {
				const struct AMobjId *child = AMitemObjId(it);
				probe_object(doc, p, child, AMobjObjType(doc, child), depth + 1);
			}
		}
		return;
	}
	if ((type != AM_OBJ_TYPE_LIST && type != AM_OBJ_TYPE_TEXT) || !p->check_lists) {
		return;
	}
	// A map range of a list or a text yields its elements whose op has a
	// map key (the core filters on the op's own key): none, in any
	// document an honest peer made.
	struct AMresult *m = AMmapRange(doc, obj, (AMbyteSpan){0}, (AMbyteSpan){0}, NULL);
	if (!failed(m)) {
		struct AMitems items = AMresultItems(m);
		if (AMitemsSize(&items) > 0) {
			if (p->nmisplaced == p->capmisplaced) {
				p->capmisplaced = p->capmisplaced ? 2 * p->capmisplaced : 4;
				p->misplaced = realloc(p->misplaced, p->capmisplaced * sizeof *p->misplaced);
				if (!p->misplaced) {
					fputs("sandbox worker: out of memory\n", stderr);
					abort();
				}
			}
			p->misplaced[p->nmisplaced++] = obj;
		}
	}
	release(m);
	if (type == AM_OBJ_TYPE_LIST) {
		struct AMresult *r = AMlistRange(doc, obj, 0, SIZE_MAX, NULL);
		if (failed(r)) {
			release(r);
			return;
		}
		keep(p, r);
		struct AMitems items = AMresultItems(r);
		for (struct AMitem *it; (it = AMitemsNext(&items, 1)) != NULL;) {
			if (AMitemValType(it) == AM_VAL_TYPE_OBJ_TYPE) {
				const struct AMobjId *child = AMitemObjId(it);
				probe_object(doc, p, child, AMobjObjType(doc, child), depth + 1);
			}
		}
	}
}

// misplaced_map_keys crashes the core on a list or a text that holds an
// element keyed like a map entry (a change's object column mutated, say
// a map made a text in the change that sets its keys), as the relay's
// own core would crash on it later. The core applies such an op, answers,
// saves and reads it without harm, and shows it as an element; but an
// insert just after that element takes its key (query/insert.rs: the key
// of the last visible element), so a write there makes an op keyed like
// a map entry in a list, and applying that change to a document that
// holds it — the relay merging the fork of a REST write back (local.go),
// or any peer receiving the write — searches the list by map key and
// panics ("can only compare map keys", op_set.rs:447): a hostile member's
// message that survived everything else, and a council's document made
// unavailable by the next REST write to that text. Here, on two forks of
// the document (it is not touched itself), one inserts at the head of
// each such object and after each of its elements, and the other merges
// that change: the panic the relay would meet. A document in this state
// is refused even should that not crash (abort). Called only when the
// walk found such an object, so the walk's map ranges are its only cost
// in any other document.
static void misplaced_map_keys(struct AMdoc *doc, const struct AMobjId *const *objs, size_t n) {
	fputs("sandbox: a list or a text holds an op keyed like a map entry\n", stderr);
	if (AMpendingOps(doc) > 0) {
		abort(); // a fork would commit them
	}
	struct AMresult *into = AMfork(doc, NULL), *edit = AMfork(doc, NULL);
	const struct AMdoc *a = NULL, *b = NULL;
	if (!failed(into) && !failed(edit) && AMitemToDoc(AMresultItem(into), &a) && AMitemToDoc(AMresultItem(edit), &b)) {
		for (size_t i = 0; i < n; i++) {
			struct AMresult *r = AMlistRange(b, objs[i], 0, SIZE_MAX, NULL);
			struct AMitems items = failed(r) ? (struct AMitems){0} : AMresultItems(r);
			size_t count = failed(r) ? 0 : AMitemsSize(&items);
			release(r);
			// A key of the head first, so the list holds one whatever
			// else it holds; then element k-1, at k after that insert.
			release(AMlistPutNull((struct AMdoc *)b, objs[i], 0, true));
			for (size_t k = count; k > 0; k--) {
				release(AMlistPutNull((struct AMdoc *)b, objs[i], k + 1, true));
			}
		}
		release(AMcommit((struct AMdoc *)b, (AMbyteSpan){0}, NULL));
		release(AMmerge((struct AMdoc *)a, (struct AMdoc *)b));
	}
	abort();
}

// probe_document walks the document's objects: if check_lists, every
// list and text is checked for an element keyed like a map entry
// (misplaced_map_keys), and if search_maps every map is searched as said
// above (skipped when the document holds ops of its own not yet
// committed, which the puts' rollback would discard). Only a change
// holding an op keyed by a list position can put a key a map's searches
// cannot compare into a map (syncmsg.KeysByPosition), so the caller
// searches the maps only after one; an op keyed like a map entry lands in
// a list or a text from a change keyed by map keys alone (a map made a
// text, say), so the caller checks the lists after any change that does
// more than set values (syncmsg.SetsValuesOnly) — walking every list
// after every ordinary map write would cost about 0.3 ms per message on
// a document holding a list of 5,000.
static void probe_document(struct AMdoc *doc, bool search_maps, bool check_lists, struct known_maps *maps) {
	if (!AMrollback || !AMpendingOps || (!search_maps && !check_lists)) {
		return; // not linked: the puts could not be undone
	}
	struct probe p = {.search_maps = search_maps && AMpendingOps(doc) == 0, .check_lists = check_lists, .maps = maps};
	probe_object(doc, &p, NULL, AM_OBJ_TYPE_MAP, 0);
	if (p.nmisplaced > 0) {
		misplaced_map_keys(doc, p.misplaced, p.nmisplaced);
	}
	for (size_t i = 0; i < p.nputs; i++) {
		release(AMmapPutNull(doc, p.puts[i].obj, (AMbyteSpan){p.puts[i].key, p.puts[i].len}));
	}
	AMrollback(doc);
	for (size_t i = 0; i < p.nputs; i++) {
		free(p.puts[i].key);
	}
	for (size_t i = 0; i < p.nowners; i++) {
		release(p.owners[i]);
	}
	free(p.puts);
	free(p.owners);
	free(p.misplaced);
}

// waiting reports whether doc holds changes the core keeps back until
// their dependencies arrive (the core applies them with whichever later
// message brings those); true when it cannot tell.
static bool waiting(struct AMdoc *doc) {
	if (!AMgetMissingDeps || !AMresultSize) {
		return true;
	}
	struct AMresult *r = AMgetMissingDeps(doc, NULL);
	bool w = failed(r) || AMresultSize(r) > 0;
	release(r);
	return w;
}

// veche_sandbox_probe runs on doc what a worker runs after a message
// moved a mirror's heads (OP_CHECK): the clock of the new heads, and, if
// search_maps, the search of every map key, and if check_lists, the
// check of every list and text (probe_document). The relay calls it on its own document when it runs without
// a sandbox (Probe, probe.go), right after applying a peer's changes, so
// that a change which would crash the core later crashes it now, while
// the message's crash mark blames its sender. It returns whether doc
// holds changes waiting for their dependencies (waiting).
bool veche_sandbox_probe(struct AMdoc *doc, bool search_maps, bool check_lists, uint8_t **maps, size_t *nmaps) {
	changes_since_heads(doc);
	struct known_maps met = {0};
	probe_document(doc, search_maps, check_lists, maps ? &met : NULL);
	if (maps) {
		// The maps met, as all_known reads them: actor length, actor,
		// counter.
		size_t n = 0;
		for (size_t i = 0; i < met.cap; i++) {
			n += met.slots[i].actor ? 20 + met.slots[i].len : 0;
		}
		uint8_t *out = n ? xmalloc(n) : NULL;
		size_t k = 0;
		for (size_t i = 0; i < met.cap; i++) {
			struct known_map *m = &met.slots[i];
			if (m->actor) {
				k += put_uvarint(out + k, m->len);
				memcpy(out + k, m->actor, m->len);
				k += m->len;
				k += put_uvarint(out + k, (size_t)m->counter);
			}
		}
		*maps = out;
		*nmaps = k;
	}
	forget_known(&met);
	return waiting(doc);
}

// veche_sandbox_waiting reports whether doc holds changes waiting for
// their dependencies (Waiting, probe.go).
bool veche_sandbox_waiting(struct AMdoc *doc) {
	return waiting(doc);
}

// veche_sandbox_missing lists the dependencies doc's waiting changes lack
// (MissingDeps, probe.go).
long veche_sandbox_missing(struct AMdoc *doc, uint8_t *out, long cap) {
	if (!AMgetMissingDeps || !AMresultItems || !AMitemsSize || !AMitemsNext || !AMitemToChangeHash) {
		return -1;
	}
	struct AMresult *r = AMgetMissingDeps(doc, NULL);
	if (failed(r)) {
		release(r);
		return -1;
	}
	struct AMitems items = AMresultItems(r);
	long count = (long)AMitemsSize(&items);
	for (long i = 0; i < count && i < cap; i++) {
		AMbyteSpan h = {0};
		struct AMitem *it = AMitemsNext(&items, 1);
		if (!it || !AMitemToChangeHash(it, &h) || h.count != 32) {
			release(r);
			return -1;
		}
		memcpy(out + i * 32, h.src, 32);
	}
	release(r);
	return count;
}

// same_heads reports whether the document's heads are the n heads at h.
static bool same_heads(struct AMdoc *doc, const uint8_t *h, size_t n) {
	size_t m = 0;
	uint8_t *now = heads_of(doc, &m);
	bool same = m == n && (n == 0 || memcmp(now, h, n * 32) == 0);
	free(now);
	return same;
}

// load rebuilds a document from a snapshot (or nothing) and chunks, as
// the relay does.
static uint8_t load(const uint8_t *key, size_t klen, const uint8_t **parts, const size_t *lens, size_t n) {
	struct AMresult *owner = NULL;
	const struct AMdoc *doc = NULL;
	for (size_t i = 0; i < n; i++) {
		if (lens[i] == 0) {
			continue;
		}
		if (i == 0) {
			owner = AMload(parts[0], lens[0]);
			if (failed(owner)) {
				uint8_t s = rejected("snapshot: ", owner);
				release(owner);
				return s;
			}
			continue;
		}
		if (!owner) {
			owner = AMcreate(NULL);
		}
		AMitemToDoc(AMresultItem(owner), &doc);
		struct AMresult *r = AMloadIncremental((struct AMdoc *)doc, parts[i], lens[i]);
		if (failed(r)) {
			char what[32];
			snprintf(what, sizeof what, "chunk %zu: ", i - 1);
			uint8_t s = rejected(what, r);
			release(r);
			release(owner);
			return s;
		}
		release(r);
	}
	if (!owner) {
		owner = AMcreate(NULL);
	}
	AMitemToDoc(AMresultItem(owner), &doc);
	// What the relay will answer a peer that holds this document must not
	// crash the core either (see answer_holder).
	answer_holder((struct AMdoc *)doc);
	new_clocks((struct AMdoc *)doc, NULL, 0);
	struct known_maps maps = {0};
	probe_document((struct AMdoc *)doc, true, true, &maps);
	struct doc *d = xmalloc(sizeof *d);
	*d = (struct doc){.key = copy_key(key, klen), .len = klen, .owner = owner, .doc = (struct AMdoc *)doc, .maps = maps};
	struct doc **slot = find(key, klen);
	d->next = NULL;
	*slot = d;
	return REPLY_OK;
}

// state returns the sync state of a peer of d, making it; a peer of ""
// gets a fresh state, owned by *fresh, that the caller frees.
static struct AMsyncState *state(struct doc *d, const uint8_t *peer, size_t n, struct AMresult **fresh) {
	struct AMsyncState *st = NULL;
	if (n == 0) {
		*fresh = AMsyncStateInit();
		AMitemToSyncState(AMresultItem(*fresh), &st);
		return st;
	}
	for (struct peer *p = d->peers; p; p = p->next) {
		if (p->len == n && memcmp(p->key, peer, n) == 0) {
			return p->state;
		}
	}
	struct peer *p = xmalloc(sizeof *p);
	*p = (struct peer){.key = copy_key(peer, n), .len = n, .owner = AMsyncStateInit(), .next = d->peers};
	AMitemToSyncState(AMresultItem(p->owner), &p->state);
	d->peers = p;
	return p->state;
}

static void leave(struct doc *d, const uint8_t *peer, size_t n) {
	for (struct peer **p = &d->peers; *p; p = &(*p)->next) {
		if ((*p)->len == n && memcmp((*p)->key, peer, n) == 0) {
			struct peer *gone = *p;
			*p = gone->next;
			free_peer(gone);
			return;
		}
	}
}

static uint8_t handle(uint8_t op, const uint8_t **f, const size_t *flen, size_t nf) {
	reply_len = 0;
	if (op == OP_PING) {
		return REPLY_OK;
	}
	if (nf < 1) {
		return rejected("no document id", NULL);
	}
	struct doc *d;
	switch (op) {
	case OP_OPEN:
		drop(f[0], flen[0]);
		return load(f[0], flen[0], f + 1, flen + 1, nf - 1);
	case OP_CHECK:
	case OP_RECEIVE: {
		d = *find(f[0], flen[0]);
		if (!d || nf < 3 || nf > 5) {
			return rejected("sandbox: check of a document that is not open", NULL);
		}
		// A fourth field says the message keys its ops by map keys only
		// (syncmsg.KeysByPosition): it cannot put an op into a map that
		// the map's searches cannot compare, so the maps are searched
		// only while changes of an earlier message that could are held
		// back. A fifth says its changes only set values under map keys,
		// and names the objects they write into (actor, counter): if
		// every one is a map a walk met (d->maps), no op keyed like a map
		// entry can have landed in a list or a text, so the lists are
		// checked only after other messages, or while changes are held
		// back (see probe_document).
		bool by_position = nf == 3 || d->held_back;
		bool check_lists = nf < 5 || d->held_back || !all_known(&d->maps, f[4], flen[4]);
		// The peer's sync state lives here as long as the relay's does, so
		// the answer generated below, like the relay's, carries only what
		// the peer has not been sent.
		struct AMresult *fresh = NULL;
		struct AMsyncState *st = state(d, f[1], flen[1], &fresh);
		size_t nbefore = 0;
		uint8_t *before = op == OP_CHECK ? heads_of(d->doc, &nbefore) : NULL;
		struct AMresult *msg = AMsyncMessageDecode(f[2], flen[2]);
		const struct AMsyncMessage *m = NULL;
		struct AMresult *r = NULL;
		if (!failed(msg) && AMitemToSyncMessage(AMresultItem(msg), &m)) {
			r = AMreceiveSyncMessage(d->doc, st, m);
		}
		uint8_t status = REPLY_OK;
		if (failed(msg) || failed(r)) {
			// A refused message may have applied part of itself.
			status = rejected("", failed(msg) ? msg : r);
			release(r);
			release(msg);
			release(fresh);
			free(before);
			drop(f[0], flen[0]);
			return status;
		}
		release(r);
		release(msg);
		if (op == OP_CHECK) {
			// Generating reads what the message announced (haves, needs,
			// bloom filters) and the history it added; either can crash
			// the core there and only there (corpus: automerge.rs:916,
			// sync/bloom.rs:74), after the message was applied.
			release(AMgenerateSyncMessage(d->doc, st));
			// And what the relay computes to answer the next peer holding
			// the new heads, the sender's next acknowledgement among them
			// (see answer_holder).
			if (!same_heads(d->doc, before, nbefore)) {
				changes_since_heads(d->doc);
				new_clocks(d->doc, before, nbefore);
				probe_document(d->doc, by_position, check_lists, &d->maps);
			}
			if (by_position || check_lists) {
				d->held_back = waiting(d->doc);
			}
		}
		free(before);
		release(fresh);
		return REPLY_OK;
	}
	case OP_LEAVE:
		d = *find(f[0], flen[0]);
		if (d && nf == 2) {
			leave(d, f[1], flen[1]);
		}
		return REPLY_OK;
	case OP_APPLY: {
		d = *find(f[0], flen[0]);
		if (!d || nf != 2) {
			return rejected("sandbox: apply to a document that is not open", NULL);
		}
		struct AMresult *r = AMloadIncremental(d->doc, f[1], flen[1]);
		if (failed(r)) {
			uint8_t status = rejected("", r);
			release(r);
			drop(f[0], flen[0]);
			return status;
		}
		release(r);
		return REPLY_OK;
	}
	case OP_FORGET:
		drop(f[0], flen[0]);
		return REPLY_OK;
	default:
		snprintf(reply, sizeof reply, "sandbox: unknown op '%c'", op);
		reply_len = strlen(reply);
		return REPLY_REJECTED;
	}
}

// read_full reads n bytes: 1 when done, 0 at end of input before any
// byte, -1 on an error or end of input midway.
static int read_full(int fd, uint8_t *p, size_t n) {
	size_t got = 0;
	while (got < n) {
		ssize_t k = read(fd, p + got, n - got);
		if (k < 0 && errno == EINTR) {
			continue;
		}
		if (k <= 0) {
			return k == 0 && got == 0 ? 0 : -1;
		}
		got += (size_t)k;
	}
	return 1;
}

static int write_full(int fd, const uint8_t *p, size_t n) {
	while (n > 0) {
		ssize_t k = write(fd, p, n);
		if (k < 0 && errno == EINTR) {
			continue;
		}
		if (k <= 0) {
			return -1;
		}
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

static int uvarint(const uint8_t **p, const uint8_t *end, uint64_t *v) {
	uint64_t x = 0;
	for (int shift = 0; shift < 64 && *p < end; shift += 7) {
		uint8_t b = *(*p)++;
		x |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*v = x;
			return 0;
		}
	}
	return -1;
}

int veche_sandbox_serve(int in, int out) {
	if (!AMload || !AMgenerateSyncMessage) {
		fputs("sandbox worker: the Automerge library is not linked into this program\n", stderr);
		return 1;
	}
	uint8_t *buf = NULL;
	size_t cap = 0;
	const uint8_t **fields = NULL;
	size_t *lens = NULL;
	size_t fcap = 0;
	for (;;) {
		uint8_t head[5];
		int r = read_full(in, head, 5);
		if (r == 0) {
			return 0;
		}
		if (r < 0) {
			fputs("sandbox worker: reading a request failed\n", stderr);
			return 1;
		}
		uint32_t n = (uint32_t)head[1] << 24 | (uint32_t)head[2] << 16 | (uint32_t)head[3] << 8 | head[4];
		if (n >= (1u << 31)) {
			fprintf(stderr, "sandbox frame of %u bytes\n", n);
			return 1;
		}
		if (n > cap) {
			free(buf);
			cap = n;
			buf = xmalloc(cap);
		}
		if (n > 0 && read_full(in, buf, n) != 1) {
			fputs("sandbox worker: reading a request failed\n", stderr);
			return 1;
		}
		size_t nf = 0;
		for (const uint8_t *p = buf, *end = buf + n; p < end;) {
			uint64_t len;
			if (uvarint(&p, end, &len) != 0 || len > (uint64_t)(end - p)) {
				fputs("sandbox: malformed request fields\n", stderr);
				return 1;
			}
			if (nf == fcap) {
				fcap = fcap ? 2 * fcap : 16;
				fields = realloc(fields, fcap * sizeof *fields);
				lens = realloc(lens, fcap * sizeof *lens);
				if (!fields || !lens) {
					abort();
				}
			}
			fields[nf] = p;
			lens[nf] = (size_t)len;
			nf++;
			p += len;
		}
		uint8_t status = handle(head[0], fields, lens, nf);
		uint8_t rh[5] = {status, (uint8_t)(reply_len >> 24), (uint8_t)(reply_len >> 16), (uint8_t)(reply_len >> 8), (uint8_t)reply_len};
		uint8_t msg[5 + sizeof reply];
		memcpy(msg, rh, 5);
		memcpy(msg + 5, reply, reply_len);
		if (write_full(out, msg, 5 + reply_len) != 0) {
			return 1;
		}
	}
}
