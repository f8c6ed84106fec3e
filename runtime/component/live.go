package component

// Live debugging: the types behind Options.LiveDebug (see "Live debugging"
// in the package comment).

// Live returns o.LiveDebug, or a LiveDebug that is never active when it is
// nil (a component built by a test, outside the runtime).
func (o Options) Live() LiveDebug {
	if o.LiveDebug == nil {
		return noLiveDebug{}
	}
	return o.LiveDebug
}

// LiveDebug is a component's channel to the viewers of its Live tab.
type LiveDebug interface {
	// Active reports whether anyone watches this component now. It is one
	// atomic load; call it before building anything to publish.
	Active() bool
	// Publish offers one event of a kind ("sample", "entry", "targets",
	// …). text.LiveText() makes its text; it is called at most once,
	// synchronously (text may point at a buffer reused after Publish
	// returns), and only if a viewer's rate limit admits the event.
	// Publish never blocks. It reports whether any viewer took the event.
	Publish(kind string, text LiveText) bool
	// Dropped tells the viewers that n events were left out before
	// Publish (a LiveSampler's), so their drop count stays exact.
	Dropped(n int)
}

// LiveText makes the text of a live debugging event. A pointer to a value
// the component already holds (its appender, an entry of the batch)
// publishes without allocating; LiveFunc adapts a closure.
type LiveText interface{ LiveText() string }

// LiveFunc is a LiveText made by a function.
type LiveFunc func() string

// LiveText calls f.
func (f LiveFunc) LiveText() string { return f() }

// LiveSampler publishes the events of one goroutine's batch (a
// transaction, a push of log entries) at almost no cost once the viewers'
// rates are spent: after an event no viewer took, it leaves out the next
// LiveSkip events itself, without calling Publish, and counts them; Flush
// reports the count (call it when the batch ends). A viewer whose rate
// allows again misses at most LiveSkip events. The zero value publishes
// nothing; it is not safe for concurrent use.
type LiveSampler struct {
	ld      LiveDebug
	skip    int
	skipped int
}

// LiveSkip is how many events a LiveSampler leaves out after one that no
// viewer took.
const LiveSkip = 63

// Reset makes s publish to ld for a new batch and reports whether anyone
// watches ld (if not, skip the batch's publishing altogether). A sampler
// is a value: kept in an appender or on the stack, it costs no
// allocation.
func (s *LiveSampler) Reset(ld LiveDebug) bool {
	*s = LiveSampler{ld: ld}
	return ld.Active()
}

// Publish offers an event unless the sampler is skipping.
func (s *LiveSampler) Publish(kind string, text LiveText) {
	if !s.Skip() {
		s.Offer(kind, text)
	}
}

// Skip reports whether the sampler leaves the next event out (and counts
// it as dropped). A hot path calls it before preparing the event's text,
// then Offer.
func (s *LiveSampler) Skip() bool {
	if s.skip > 0 {
		s.skip--
		s.skipped++
		return true
	}
	return false
}

// Offer publishes an event Skip did not leave out.
func (s *LiveSampler) Offer(kind string, text LiveText) {
	if !s.ld.Publish(kind, text) {
		s.skip = LiveSkip
	}
}

// Flush reports the events left out since the last Flush.
func (s *LiveSampler) Flush() {
	if s.skipped > 0 {
		s.ld.Dropped(s.skipped)
		s.skipped = 0
	}
}

// LiveDebugSwitch is implemented by the LiveDebug the runtime gives every
// component. Only the `livedebugging` config block uses it: it switches the
// feature on and off for the whole agent (off closes every viewer).
type LiveDebugSwitch interface {
	SetLiveDebugging(enabled bool)
}

type noLiveDebug struct{}

func (noLiveDebug) Active() bool                  { return false }
func (noLiveDebug) Publish(string, LiveText) bool { return false }
func (noLiveDebug) Dropped(int)                   {}
