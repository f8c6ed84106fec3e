// Package rendezvous decides which peer of a cluster owns a target, by
// rendezvous (highest random weight) hashing: every peer scores every key,
// and the peer with the highest score owns it.
//
// Decision: rendezvous hashing rather than a ring of virtual nodes (Alloy's
// ckit uses 512 tokens a node). With N peers a lookup costs N hash mixes
// (a few nanoseconds each), which is cheap for the fleet sizes flow runs in
// (tens to hundreds of agents), and in exchange:
//   - movement is minimal by construction: when a peer leaves, exactly the
//     keys it owned move (each to its second-highest scorer) and no other key
//     moves; when a peer joins, only the keys it now scores highest on move,
//     about 1/N of them;
//   - balance is that of independent uniform choices, with no tokens to tune:
//     the largest of 10 peers' shares of 10,000 keys is about 1.06 times the
//     mean (a 512-token ring is about ±4 % off even before the keys' own
//     variance);
//   - there is no ring to build or keep: a Table is the sorted peer names and
//     one 64-bit hash of each.
//
// Every peer computes the same owner for a key from the same set of peer
// names, with no coordination, because Key and the scores depend only on the
// label set and the names.
package rendezvous

import (
	"slices"
	"sort"

	"github.com/cespare/xxhash/v2"
)

// Key is the ownership key of a target: xxhash64 of its labels sorted by
// name, each written as name, 0xff, value, 0xff, leaving out the labels whose
// name starts with "__meta_". Discovery metadata is left out (as Alloy does)
// because it is not part of the target's identity: a changed tag or state
// must not move a target between peers.
func Key(labels map[string]string) uint64 {
	// A target has a handful of non-meta labels: sort them in a stack
	// array, so hashing 10,000 targets allocates nothing.
	var buf [16]string
	names := buf[:0]
	for n := range labels {
		if len(n) >= 7 && n[:7] == "__meta_" {
			continue
		}
		names = append(names, n)
	}
	slices.Sort(names)
	var d xxhash.Digest
	d.Reset()
	sep := [1]byte{0xff}
	for _, n := range names {
		_, _ = d.WriteString(n)
		_, _ = d.Write(sep[:])
		_, _ = d.WriteString(labels[n])
		_, _ = d.Write(sep[:])
	}
	return d.Sum64()
}

// Table is an immutable set of peers that answers who owns a key. The zero
// Table has no peers and owns nothing.
type Table struct {
	names  []string
	hashes []uint64
}

// New returns the table of the named peers. Duplicate names count once and
// the order does not matter.
func New(peers []string) *Table {
	names := slices.Clone(peers)
	sort.Strings(names)
	names = slices.Compact(names)
	t := &Table{names: names, hashes: make([]uint64, len(names))}
	for i, n := range names {
		t.hashes[i] = xxhash.Sum64String(n)
	}
	return t
}

// Peers returns the peer names, sorted. The slice must not be modified.
func (t *Table) Peers() []string { return t.names }

// Len is the number of peers.
func (t *Table) Len() int { return len(t.names) }

// Owner returns the peer that owns key, and false when the table is empty.
func (t *Table) Owner(key uint64) (string, bool) {
	i := t.ownerIndex(key)
	if i < 0 {
		return "", false
	}
	return t.names[i], true
}

// OwnerIndex returns the index in Peers of key's owner, or -1 when the table
// is empty. Counting owners by index avoids hashing names into a map.
func (t *Table) OwnerIndex(key uint64) int { return t.ownerIndex(key) }

func (t *Table) ownerIndex(key uint64) int {
	best, bestScore := -1, uint64(0)
	for i, h := range t.hashes {
		s := score(key, h)
		// Ties (one in 2^64) go to the smaller name, the earlier index, so
		// every peer breaks them the same way.
		if best < 0 || s > bestScore {
			best, bestScore = i, s
		}
	}
	return best
}

// score mixes a key with a peer's hash: the xor goes through the
// finaliser of SplitMix64 (Stafford's variant 13), whose avalanche makes
// the scores of one key on different peers behave as independent uniform
// draws.
func score(key, peer uint64) uint64 {
	z := key ^ peer
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}
