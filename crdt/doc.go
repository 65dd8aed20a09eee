/*
Package crdt holds the council documents of veche: the schema
"veche/council/2" as Go types, the signed fact log that decides
everything that counts, typed operations that record facts and write an
automerge-go document, and a reader that derives every status from the
verified log alone. It is pure: no I/O, no network, no clock (every
operation and every read takes its time explicitly).

This comment is the contract. The web client implements the same rules;
the JSON test vectors under testdata/vectors keep the two in step.

# The fact log

Every fact that decides something — founding, admitting a member, a
delegate's seat, adding or retiring a key, leaving, a proposal and its
withdrawal, a vote, a mandate's reports, resignation and completion,
offers, needs, their withdrawal, pledges, federation join/leave/admit/
remove, starting minutes — is a Record signed with the acting member's
Ed25519 key and carried in the message of the Automerge change that
makes it. Change messages are covered by the change hash, so no writer
can edit or delete a record other replicas hold: the log is append-only.
The same change writes the document state below, so stock automerge-repo
clients show the council; that state is a convenience. The view, every
derived status and every grant are computed from the valid records only
(Log.Derive); whatever the state says that the log does not — a forged
vote, a deleted member, a rewritten rule — counts for nothing and is
reported as a Problem at its path (ReadLog). Collaborative texts
(proposal bodies, minutes notes) are unsigned content any member may
edit; they are read from the state.

A change message that carries a record is

	veche:<op> by=<memberId> <key>=<id> ...      (a summary for people; never trusted)
	veche-fact/1 <payload> <signature>

payload and signature in unpadded base64url. The payload is UTF-8 JSON
with exactly these fields, in this order when written by Go:

	{"v":1,"council":"<council id>","op":"vote","by":"<member id>",
	 "at":<ms since the Unix epoch>,"key":"<public key>","args":{...}}

council is "" only in the founding record; key is the signing Ed25519
public key (32 bytes, unpadded base64url); args maps argument names to
strings (ids, texts, decimal numbers as Go's strconv 'g' -1 writes them,
times as decimal milliseconds). The signature is Ed25519 over
"veche-fact/1\n" followed by the payload bytes exactly as carried: no
re-encoding is needed to verify, so Go and TypeScript verify the same
bytes. A payload is refused (a problem, never a fact) if it has unknown
fields, another version, invalid ids, a time out of range, more than 32
arguments or is over 16 KiB. Two changes carrying the same payload carry
one fact.

Arguments by operation (record op = Op):

	create-council  name kind region? quorum majority member member-name member-role custodial? nonce
	join            member name role key custodial?           (by: the admitting member)
	seat            member name role council mandate          (by: the delegate's id in council; key: their key there)
	add-key         key custodial?        retire-key  key        leave  (none)
	propose         proposal kind title closes-at? subject? quorum? majority?
	propose-mandate proposal title closes-at? mandate task body member
	withdraw-proposal proposal            vote  proposal choice
	report          mandate text          resign, complete  mandate
	post-offer      offer item quantity unit from? until? note?   (post-need: need …)
	withdraw-offer  offer                 withdraw-need  need
	pledge          pledge need quantity unit offer? council?
	join-federation, leave-federation  federation     admit-council, remove-council  council
	start-minutes   minutes title

edit-proposal and edit-minutes changes carry no record (text is content).

# Founding and keys

A council's id is its automerge-repo documentId, derived from its
founding record: CouncilID(payload) = bs58check of the first 16 bytes of
SHA-256("veche-council/1\n" ‖ payload). Every reader is given the id
(Read, Log.Derive) and counts only the founding record that hashes to
it: a later write cannot replace the founder, the rule or the name, and
a second founding record is a problem. The founding record is signed by
the founder's key, which it names, and admits the founder.

A key counts for a member only through a chain rooted in the founding
record: the founder's key; a key named by a join record signed by a key
that counts for an active member at that time (invites accepted over
REST are joins signed by the inviter's key); a key the member adds with
add-key signed by one of their keys that counts. retire-key, leave and a
passed expel proposal retire keys from their time on. A key belongs to
one member only. A record counts only if its key counts for its by at
its at and that member is active then (seats and pledges from other
councils are checked against those councils' logs, below).

Custodial keys: members who act only through a relay's REST API or CLI
have a key the relay holds for them (sealed at rest). The record that
introduces such a key says custodial=true, and every fact signed with it
is marked Custodial in the view and the history: it rests on the
relay's word. A member may add a key of their own device and retire the
custodial one.

# Rules of the log

Records are replayed in order of (at, SHA-256 of payload), so the result
never depends on merge order. Records of one millisecond may depend on
each other whatever that order (a member admitted, then acting, at the
same moment): those that do not count are applied again, in the same
order, while that admits more of them, at most 8 times in all (a longer
chain of one millisecond counts only that deep). A second change carrying a record
already in the log gets the verdict of the first. Times are the
signer's claim; a record dated more than MaxSkew after the reading
moment is a problem, not a fact (and records dated after now but within
MaxSkew are not yet in effect). Since times are claims, a member can
date their own record earlier than they made it — their own vote, say,
before a closing they already saw; the log cannot tell, though the
history shows who signed what. No one can date anyone else's record.

The state comparison reports what an honest writer never leaves: an
entry the log does not hold, one the log holds that the state lost, a
departure, withdrawal or field that differs, a vote the member never
signed. It accepts what the operations never write: the rule in force
after a rule proposal (the state keeps the founding rule), the end of a
membership by expulsion or of a seat with its mandate, and any of a
member's signed votes (a vote changed after closing).

  - A vote counts only if signed by the voter, for an existing proposal,
    at or after its time; a member's ballot is their latest vote at or
    before the closing moment (a vote changed after closing is ignored;
    the earlier one stands). No one can change another member's vote.
  - The rule (quorum, majority) is the founding rule until a proposal of
    kind rule passes; its rule is in force from its closing moment on. A
    proposal is decided by the rule in force at its own time.
  - A member is removed only by leaving (their own signed leave) or by a
    passed proposal of kind expel whose subject is them (from its
    closing moment on).
  - A proposal is withdrawn only by its proposer; an offer or a need only
    by the member who posted it.
  - A mandate exists only through a propose-mandate record whose body is
    a federation the council has joined (its own log); it is active from
    the passing of that proposal until a passed recall, the delegate's
    signed resignation or completion, or the end of the delegate's
    membership (leaving counts as resigning; a passed expel proposal
    recalls the mandate). Reports, resignation and completion count only
    when signed by the delegate.
  - Federation membership needs both sides: a council belongs to a
    federation only if its log holds a join-federation (by any active
    member) not followed by a leave-federation, and the federation's log
    holds an admit-council of it (by any member of the federation). Each
    log holds one side; relays check both (server.Grants).
  - A delegate's seat in a federation is a seat record signed with the
    delegate's key from their home council. Readers given the home
    council's verified view (Councils) count it only if the named mandate
    was active when the seat was taken, sends that delegate to this
    federation, the key counts for the delegate there, and the home
    council is admitted here by then. The seat is checked where it is
    replayed, so a delegate whose seat does not count never acts; the
    seat ends (the delegate's key retired) when the mandate does.
    Without the home council's log the seat does not count (a problem).
  - A pledge from another council counts only if that council's verified
    view (Councils) shows the signer as an active member holding the key.

# Document

One Automerge document per council, written by the operations along
with each record:

	schema      "veche/council/2"
	council     { id, name, kind, region, createdAt, rule: { quorum, majority } }
	members     { <memberId>: { name, role, joinedAt, leftAt?, sentBy?: { council, mandate },
	                            keys: { <key>: { custodial, addedAt, retiredAt? } } } }
	proposals   { <id>: { kind, title, body (Text), by, at, closesAt?, withdrawnAt?, subject?, rule?,
	                      votes: { <memberId>: { choice, at } } } }
	mandates    { <id>: { task, body, delegate, proposal, issuedAt, resignedAt?, completedAt?,
	                      reports: [ { at, by, text } ] } }
	exchange    { offers:  { <id>: { by, item, quantity, unit, from?, until?, note?, at, withdrawnAt? } },
	              needs:   { <id>: { same as offers } },
	              pledges: { <id>: { need, offer?, council?, quantity, unit, by, at } } }
	federation  { memberOf: { <councilId>: { since } }, members: { <councilId>: { since } } }
	minutes     [ { id, at, title, notes (Text), by } ]

Kinds: council kind farmers | workers | consumers | federation; proposal
kind general | mandate | recall | exchange | rule | expel; vote choice
yes | no | abstain.

Ids inside a document are random, 16 lowercase hex characters from
crypto/rand (NewID), generated by the writer, so offline writers never
collide. Every spec has an optional ID field for callers (and test
vectors) that need fixed ids; explicit ids must satisfy ValidID.

# Operations

Each operation takes a Signer (council id, member id, private key) and
validates its input against the verified view at `at` — of the records
dated at or before `at`, which the replay applies before the operation's
own (Signer.Others resolves other councils, for a seated delegate) —
returning an
*Error (compare with errors.Is against ErrInvalid, ErrNotFound,
ErrUnknownMember, ErrMemberLeft, ErrKeyNotCounted, ErrProposalClosed,
ErrNotDelegate, …) having changed nothing. Only then does it sign the
record and write: on a fork of the document that keeps the document's
actor id, committed there as exactly one Automerge change whose message
carries the record, which is then applied to the document. Writes to one
*automerge.Doc must be serialized by the caller.

Operations: CreateCouncil / NewCouncil; Join, TakeSeat, AddKey,
RetireKey, Leave; Propose (kinds general, recall, exchange, rule,
expel), ProposeMandate, EditProposal, WithdrawProposal (proposer only);
CastVote; SubmitReport, Resign, Complete (delegate only); PostOffer,
PostNeed, WithdrawOffer, WithdrawNeed (poster only), MakePledge;
JoinFederation, LeaveFederation (in a council's document), AdmitCouncil,
RemoveCouncil (in a federation's document); StartMinutes, EditMinutes.
Text edits (TextEdit) count positions in Unicode code points.

# Derived state

The log holds facts; statuses are derived by Read at a given `now`,
never stored, and never depend on the order in which changes were merged:
they are functions of the valid records and `now` only. Facts time-stamped
after `now` (a vote, a departure, a resignation, a pledge) are not yet in
effect.

Member: active at t ⇔ joinedAt ≤ t and (no leftAt or leftAt > t).

Proposal outcome at now:

  - Closing moment. With closesAt: closesAt, once now ≥ closesAt
    (before that the proposal is open). Without closesAt: the first
    moment c with proposal.at ≤ c ≤ now at which every member active at c
    has a vote cast at or before c; candidates for c are proposal.at, the
    vote times and the departure (leftAt) times. A proposal is decided
    by the rule in force at its own time (see Rules of the log). In particular the
    proposal is decided once every member active now has voted, and a
    member who joins later does not reopen it. With no such moment it is
    open.
  - withdrawn: withdrawnAt ≤ now and (not decided, or withdrawnAt ≤ the
    closing moment). A withdrawal made offline after the closing moment
    is ignored.
  - Otherwise, at the closing moment c: the electorate is the members
    active at c; a vote counts iff its member is in the electorate, its
    choice is valid and vote.at ≤ c, and each member's ballot is their
    latest vote at or before c: a vote changed after closing (possible
    only offline, or by back-dating one's own record) does not replace
    the earlier one.
  - no-quorum unless float64(yes+no+abstain) ≥ quorum × float64(|electorate|)
    (the quorum is a fraction of the electorate, the majority a fraction
    of the yes and no votes);
    else passed iff float64(yes) > majority × float64(yes+no) (IEEE-754
    double arithmetic, each product rounded, as in JavaScript) — so a tie
    at majority 0.5 is rejected, and abstentions count only toward
    the quorum; else rejected.
  - Proposal.Tally is counted the same way at the closing moment, at the
    withdrawal for a withdrawn proposal, and at now (electorate = members
    active now) for an open one; Vote.Counted says which votes it holds.

Mandate status at now. The link is mandate.proposal, the id of its
approving proposal (of kind mandate; its subject names the mandate back).
ProposeMandate writes both in one change.

  - pending while the approving proposal is open (or missing: a problem);
  - rejected if it was withdrawn, rejected or lacked quorum;
  - otherwise the earliest of these events at or before now decides:
    completedAt → completed, resignedAt → resigned, the closing moment of
    a passed recall proposal (kind recall, subject = the mandate id) →
    recalled; equal times are ordered recalled, resigned, completed (then
    recall proposal id); with no event, active.

So a recall passing after the delegate resigned leaves the mandate
resigned, and a resignation and a recall made concurrently offline give
the same status on every replica: whichever happened first.

Needs at now: a pledge counts toward its need iff the need exists, the
pledge's unit is empty or the need's unit, its quantity is positive and
pledge.at ≤ now (a pledge in another unit is reported as a problem and
not summed). pledged = the sum of counted quantities, added in pledge id
order; remaining = max(0, quantity − pledged); met ⇔ pledged ≥ quantity.
Withdrawn offers and needs (withdrawnAt ≤ now) stay in the view, marked
withdrawn.

# Reading

Read never fails and never panics. The state reader behind ReadLog
tolerates strings as Text, numbers of any kind, timestamps as numbers,
unknown fields and schema versions, and reports what it cannot read as a
Problem; a Log verifies signatures once per change (Update reads only
new changes), so a relay keeps one per document and derives cheaply.
*/
package crdt
