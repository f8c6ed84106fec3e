package firehosetest

import (
	"encoding/json"
	"net/http"
	"sync"
)

// FakeAPI answers firehose:DescribeDeliveryStream in the AWS JSON 1.1
// protocol the SDK speaks. Put it behind fakeaws' RequireSigV4 (service
// "firehose") so that signatures are checked.
type FakeAPI struct {
	// Account and Region go into the ARNs it returns.
	Account, Region string

	mu      sync.Mutex
	streams map[string]string // name -> DeliveryStreamStatus
	calls   int
}

// SetStream makes a stream exist with status (ACTIVE, CREATING, …).
func (f *FakeAPI) SetStream(name, status string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.streams == nil {
		f.streams = map[string]string{}
	}
	f.streams[name] = status
}

// Calls counts DescribeDeliveryStream calls.
func (f *FakeAPI) Calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func (f *FakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	fail := func(code, msg string) {
		w.Header().Set("X-Amzn-ErrorType", code)
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"__type": code, "message": msg})
	}
	if r.Method != http.MethodPost || r.Header.Get("X-Amz-Target") != "Firehose_20150804.DescribeDeliveryStream" {
		fail("UnknownOperationException", "this fake only knows DescribeDeliveryStream")
		return
	}
	f.calls++
	var in struct{ DeliveryStreamName string }
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		fail("SerializationException", err.Error())
		return
	}
	status, ok := f.streams[in.DeliveryStreamName]
	if !ok {
		fail("ResourceNotFoundException", "Firehose "+in.DeliveryStreamName+" under account "+f.Account+" not found.")
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"DeliveryStreamDescription": map[string]any{
		"DeliveryStreamName":   in.DeliveryStreamName,
		"DeliveryStreamARN":    "arn:aws:firehose:" + f.Region + ":" + f.Account + ":deliverystream/" + in.DeliveryStreamName,
		"DeliveryStreamStatus": status,
		"DeliveryStreamType":   "DirectPut",
		"VersionId":            "1",
		"Destinations":         []any{},
		"HasMoreDestinations":  false,
	}})
}
