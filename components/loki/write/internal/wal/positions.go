package wal

import (
	"encoding/json"
	"fmt"
	"os"
)

// Positions are the committed positions of endpoints, by endpoint name,
// persisted as JSON next to the segments.
type Positions map[string]Position

type positionsFile struct {
	Version   int       `json:"version"`
	Positions Positions `json:"positions"`
}

// PositionsFile is the name of the positions file in the WAL directory.
const PositionsFile = "positions.json"

// LoadPositions reads the positions file. A missing or unreadable file gives
// empty positions and, for the latter, an error to log: endpoints then replay
// from the oldest segment, which can send entries twice but loses none.
func LoadPositions(path string) (Positions, error) {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return Positions{}, nil
	}
	if err != nil {
		return Positions{}, fmt.Errorf("reading WAL positions: %w", err)
	}
	var pf positionsFile
	if err := json.Unmarshal(b, &pf); err != nil || pf.Version != 1 {
		return Positions{}, fmt.Errorf("WAL positions file %s is damaged (%v); replaying from the oldest segment", path, err)
	}
	if pf.Positions == nil {
		pf.Positions = Positions{}
	}
	return pf.Positions, nil
}

// SavePositions writes the positions atomically (a temporary file renamed
// over the old one). It does not fsync: losing an update in a crash only
// means replaying, and so resending, a little more.
func SavePositions(path string, p Positions) error {
	b, err := json.Marshal(positionsFile{Version: 1, Positions: p})
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("writing WAL positions: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("writing WAL positions: %w", err)
	}
	return nil
}
