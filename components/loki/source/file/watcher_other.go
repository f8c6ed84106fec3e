//go:build !linux

package file

import "errors"

// Outside Linux tailers poll.
func newBackend(func(string, eventKind, uint32), func()) (watchBackend, error) {
	return nil, errors.New("no directory watcher on this OS")
}
