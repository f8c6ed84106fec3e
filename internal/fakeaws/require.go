package fakeaws

import (
	"net/http"
	"sync"
	"time"
)

// SigV4Handler checks the SigV4 signature of every request and passes only
// valid ones on to the wrapped handler (a Prometheus remote-write receiver,
// a fake Loki, …). Rejected requests get AWS's JSON error shape: status 403,
// an x-amzn-ErrorType header and {"__type","message"}, as API Gateway and
// Amazon Managed Service for Prometheus answer.
type SigV4Handler struct {
	next    http.Handler
	service string
	region  string
	store   *store
	key     *Key
	reqID   func() string

	mu    sync.Mutex
	stats Stats
}

// RequireSigV4 wraps next in a standalone signature check for service and
// region (region "" accepts any). It knows one long-term key, returned by
// Key; sign requests with it. To accept the rotating credentials a fake AWS
// issues, use (*AWS).RequireSigV4 instead.
func RequireSigV4(next http.Handler, service, region string) *SigV4Handler {
	st := newStore(time.Now, time.Second, 5*time.Minute)
	k := st.add(&Key{
		AccessKeyID:     "AKIA" + randomID(16),
		SecretAccessKey: randomSecret(40),
		Principal:       "arn:aws:iam::123456789012:user/sigv4-client",
		Account:         "123456789012",
	})
	n := 0
	var mu sync.Mutex
	return &SigV4Handler{next: next, service: service, region: region, store: st, key: k,
		stats: Stats{RejectedByCode: map[string]int64{}, ByAction: map[string]int64{}},
		reqID: func() string {
			mu.Lock()
			defer mu.Unlock()
			n++
			return "sigv4-" + itoa(n)
		}}
}

// RequireSigV4 wraps next in a signature check that accepts every key this
// fake knows (users and issued credentials), counting into its Stats too.
func (f *AWS) RequireSigV4(next http.Handler, service, region string) *SigV4Handler {
	return &SigV4Handler{next: next, service: service, region: region, store: f.store,
		stats: Stats{RejectedByCode: map[string]int64{}, ByAction: map[string]int64{}},
		reqID: f.nextRequestID}
}

// Key is the standalone handler's key (nil for one made by (*AWS).RequireSigV4).
func (h *SigV4Handler) Key() *Key { return h.key }

// Stats counts this handler's requests.
func (h *SigV4Handler) Stats() Stats {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := h.stats
	out.RejectedByCode = map[string]int64{}
	for k, v := range h.stats.RejectedByCode {
		out.RejectedByCode[k] = v
	}
	out.ByAction = map[string]int64{}
	for k, v := range h.stats.ByAction {
		out.ByAction[k] = v
	}
	return out
}

func (h *SigV4Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ver, e := h.store.verify(r, h.service, h.region, h.service == "s3")
	if e != nil {
		h.store.reject(e)
		h.mu.Lock()
		h.stats.Rejected++
		h.stats.RejectedByCode[e.Code]++
		h.stats.LastRejection = e.Code + ": " + e.Message
		h.mu.Unlock()
		writeError(w, protoJSON, e, h.reqID())
		return
	}
	action := h.service + ":request"
	stale := h.store.accept(action, ver.key)
	h.mu.Lock()
	h.stats.Accepted++
	h.stats.ByAction[action]++
	if stale {
		h.stats.Stale++
	}
	h.mu.Unlock()
	h.next.ServeHTTP(w, r)
}
