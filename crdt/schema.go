package crdt

// Schema is the schema a council document declares in its root "schema"
// field. Operations write only documents of this schema; Read reads any
// document and reports a different or missing schema as a problem.
const Schema = "veche/council/2"

// CouncilKind says whom a council gathers.
type CouncilKind string

// Council kinds.
const (
	KindFarmers    CouncilKind = "farmers"
	KindWorkers    CouncilKind = "workers"
	KindConsumers  CouncilKind = "consumers"
	KindFederation CouncilKind = "federation" // a council of delegates sent by other councils
)

// Valid reports whether k is one of the council kinds of the schema.
func (k CouncilKind) Valid() bool {
	switch k {
	case KindFarmers, KindWorkers, KindConsumers, KindFederation:
		return true
	}
	return false
}

// Common member roles. A role is free text; these are the usual ones.
const (
	RoleSmallFarmer  = "small-farmer"
	RoleFarmLabourer = "farm-labourer"
	RoleWorker       = "worker"
	RoleConsumer     = "consumer"
	RoleDelegate     = "delegate" // a member of a federation sent by a council
)

// ProposalKind says what a proposal decides.
type ProposalKind string

// Proposal kinds.
const (
	ProposalGeneral  ProposalKind = "general"  // any decision of the council
	ProposalMandate  ProposalKind = "mandate"  // approves one mandate (see ProposeMandate)
	ProposalRecall   ProposalKind = "recall"   // recalls the mandate named by its subject
	ProposalExchange ProposalKind = "exchange" // an exchange decision; subject may name an offer or need
	ProposalRule     ProposalKind = "rule"     // changes the council's rule (quorum, majority) once it passes
	ProposalExpel    ProposalKind = "expel"    // ends the membership of the member named by its subject
)

// Valid reports whether k is one of the proposal kinds of the schema.
func (k ProposalKind) Valid() bool {
	switch k {
	case ProposalGeneral, ProposalMandate, ProposalRecall, ProposalExchange, ProposalRule, ProposalExpel:
		return true
	}
	return false
}

// Choice is a member's vote on a proposal.
type Choice string

// Vote choices.
const (
	Yes     Choice = "yes"
	No      Choice = "no"
	Abstain Choice = "abstain" // counts towards the quorum, not the majority
)

// Valid reports whether c is yes, no or abstain.
func (c Choice) Valid() bool {
	switch c {
	case Yes, No, Abstain:
		return true
	}
	return false
}

// Outcome is the derived state of a proposal at a given moment.
type Outcome string

// Proposal outcomes.
const (
	OutcomeOpen      Outcome = "open"      // still being voted on
	OutcomePassed    Outcome = "passed"    // quorum met and yes > majority × (yes + no)
	OutcomeRejected  Outcome = "rejected"  // quorum met, majority not reached (a tie at 1/2 is rejected)
	OutcomeNoQuorum  Outcome = "no-quorum" // too few members of the electorate voted
	OutcomeWithdrawn Outcome = "withdrawn" // withdrawn by its proposer before it closed
)

// MandateStatus is the derived state of a mandate at a given moment.
type MandateStatus string

// Mandate statuses.
const (
	MandatePending   MandateStatus = "pending"   // its approving proposal is open
	MandateRejected  MandateStatus = "rejected"  // its approving proposal did not pass
	MandateActive    MandateStatus = "active"    // approved, and not ended
	MandateRecalled  MandateStatus = "recalled"  // a recall proposal naming it passed
	MandateResigned  MandateStatus = "resigned"  // the delegate resigned
	MandateCompleted MandateStatus = "completed" // the delegate completed the task
)

// Keys of the document, as written by operations and expected by Read.
const (
	keySchema     = "schema"
	keyCouncil    = "council"
	keyMembers    = "members"
	keyProposals  = "proposals"
	keyMandates   = "mandates"
	keyExchange   = "exchange"
	keyOffers     = "offers"
	keyNeeds      = "needs"
	keyPledges    = "pledges"
	keyFederation = "federation"
	keyMemberOf   = "memberOf"
	keyFedMembers = "members"
	keyMinutes    = "minutes"
	keyVotes      = "votes"
	keyReports    = "reports"
	keyBody       = "body"
	keyNotes      = "notes"
)
