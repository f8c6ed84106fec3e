package remotewrite

import (
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"unsafe"

	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/storage/remote"
	"go.yaml.in/yaml/v2"
)

// Prometheus' remote.Storage builds the HTTP client of each queue from its
// configuration, with no way to supply one, and keeps its queues private.
// flow needs its own client per queue: one that signs with credentials that
// rotate without restarting the queue (aws.RoundTripper.Update), and that
// observes every response for the component's health. The queue manager
// does have a public SetClient, made for replacing a client while keeping
// the queue's data; queuesOf reaches the queue managers so flow can call it.
//
// This reads two unexported fields of the pinned Prometheus version
// (Storage.rws and WriteStorage.queues). It is checked, not assumed: if a
// Prometheus upgrade renames them, queuesOf returns an error and the
// component fails to build with a message saying so (and the tests fail),
// rather than sending requests unsigned.

// queuesOf returns the queue managers of s, keyed by the hash Prometheus
// gives each remote-write configuration (see queueHash).
func queuesOf(s *remote.Storage) (map[string]*remote.QueueManager, error) {
	rws, err := unexportedField(reflect.ValueOf(s).Elem(), "rws")
	if err != nil {
		return nil, err
	}
	if rws.Kind() != reflect.Pointer || rws.IsNil() {
		return nil, errors.New("remote.Storage.rws is not a non-nil pointer")
	}
	queues, err := unexportedField(rws.Elem(), "queues")
	if err != nil {
		return nil, err
	}
	m, ok := queues.Interface().(map[string]*remote.QueueManager)
	if !ok {
		return nil, fmt.Errorf("WriteStorage.queues has type %s, want map[string]*remote.QueueManager", queues.Type())
	}
	return m, nil
}

func unexportedField(v reflect.Value, name string) (reflect.Value, error) {
	f := v.FieldByName(name)
	if !f.IsValid() {
		return reflect.Value{}, fmt.Errorf("prometheus internals changed: %s has no field %q; flow's remote_write adapter must be updated for this Prometheus version", v.Type(), name)
	}
	return reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem(), nil
}

// queueHash is the key Prometheus' WriteStorage files a queue under: the MD5
// of the configuration's YAML (storage/remote.toHash).
func queueHash(rc *config.RemoteWriteConfig) (string, error) {
	b, err := yaml.Marshal(rc)
	if err != nil {
		return "", err
	}
	h := md5.Sum(b)
	return hex.EncodeToString(h[:]), nil
}
