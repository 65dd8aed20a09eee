#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
// veche_sandbox_serve answers sandbox requests read from in, writing the
// replies to out, until in ends (0) or fails (1).
int veche_sandbox_serve(int in, int out);

struct AMdoc;

// veche_sandbox_probe runs on a document what a worker runs after a
// message moved its mirror's heads, and reports whether the document
// holds changes waiting for their dependencies (see worker.c).
// If maps is not NULL, the maps its walk met go to *maps (malloc'd, for
// the caller to free; each: actor length and counter as uvarints around
// the actor's bytes) and their length to *nmaps.
bool veche_sandbox_probe(struct AMdoc *doc, bool search_maps, bool check_lists, uint8_t **maps, size_t *nmaps);

// veche_sandbox_waiting reports whether a document holds changes waiting
// for their dependencies (true when it cannot tell).
bool veche_sandbox_waiting(struct AMdoc *doc);

// veche_sandbox_missing writes into out (room for cap hashes of 32 bytes)
// the hashes of the changes that a document's waiting changes depend on
// and it lacks, and returns how many there are (more than cap: call again
// with more room), or -1 when it cannot tell.
long veche_sandbox_missing(struct AMdoc *doc, uint8_t *out, long cap);

// veche_sandbox_clocks computes the clock of each of n changes (32-byte
// hashes at h) alone (worker.c).
void veche_sandbox_clocks(struct AMdoc *doc, const uint8_t *h, size_t n);
