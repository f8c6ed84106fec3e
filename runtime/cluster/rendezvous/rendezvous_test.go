package rendezvous

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// targets returns n label sets shaped like EC2 node_exporter targets.
func targets(n int) []map[string]string {
	out := make([]map[string]string, n)
	for i := range out {
		out[i] = map[string]string{
			"__address__":                  fmt.Sprintf("10.%d.%d.%d:9100", i>>16&0xff, i>>8&0xff, i&0xff),
			"job":                          "node",
			"__meta_ec2_instance_id":       fmt.Sprintf("i-%017x", i),
			"__meta_ec2_availability_zone": "us-east-1a",
		}
	}
	return out
}

func keys(ts []map[string]string) []uint64 {
	out := make([]uint64, len(ts))
	for i, t := range ts {
		out[i] = Key(t)
	}
	return out
}

func peerNames(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}

func TestKeyIgnoresMetaLabelsOnly(t *testing.T) {
	base := map[string]string{"__address__": "10.0.0.1:9100", "job": "node"}
	withMeta := map[string]string{"__address__": "10.0.0.1:9100", "job": "node", "__meta_ec2_tag_Name": "web"}
	if Key(base) != Key(withMeta) {
		t.Error("a __meta_ label changed the key; discovery metadata must not move a target")
	}
	other := map[string]string{"__address__": "10.0.0.1:9100", "job": "node", "env": "prod"}
	if Key(base) == Key(other) {
		t.Error("a non-meta label did not change the key")
	}
	// The separator keeps name/value boundaries apart.
	if Key(map[string]string{"a": "bc"}) == Key(map[string]string{"ab": "c"}) {
		t.Error(`{a="bc"} and {ab="c"} have the same key`)
	}
	// "__meta" without the underscore is not metadata.
	if Key(map[string]string{"__metaX": "1"}) == Key(map[string]string{}) {
		t.Error(`"__metaX" was treated as a __meta_ label`)
	}
}

// TestKeyIsStable pins the key function: peers running different flow
// versions must agree on every target's owner, so a change here is a
// breaking change of the cluster protocol.
func TestKeyIsStable(t *testing.T) {
	got := Key(map[string]string{"__address__": "10.0.0.1:9100", "job": "node", "__meta_x": "y"})
	const want = uint64(0x59f58f652d56c8e9)
	if got != want {
		t.Fatalf("Key = %#x, want %#x: changing the key function moves targets between peers of different versions", got, want)
	}
	tab := New([]string{"a", "b", "c"})
	if o, _ := tab.Owner(want); o != "b" {
		t.Fatalf("owner of %#x among a, b, c = %q, want \"b\": changing the score function splits ownership between versions", want, o)
	}
}

func TestEmptyTableOwnsNothing(t *testing.T) {
	var zero Table
	if o, ok := zero.Owner(42); ok || o != "" {
		t.Errorf("zero Table: Owner = %q, %v", o, ok)
	}
	if o, ok := New(nil).Owner(42); ok || o != "" {
		t.Errorf("New(nil): Owner = %q, %v", o, ok)
	}
	if i := New(nil).OwnerIndex(42); i != -1 {
		t.Errorf("New(nil): OwnerIndex = %d", i)
	}
}

func TestOrderAndDuplicatesDoNotMatter(t *testing.T) {
	ks := keys(targets(2000))
	a := New([]string{"n1", "n2", "n3", "n4"})
	b := New([]string{"n4", "n2", "n1", "n3", "n2"})
	if b.Len() != 4 {
		t.Fatalf("duplicate counted: Len = %d", b.Len())
	}
	for _, k := range ks {
		oa, _ := a.Owner(k)
		ob, _ := b.Owner(k)
		if oa != ob {
			t.Fatalf("key %#x: owner %q with one peer order, %q with another", k, oa, ob)
		}
	}
}

// maxOverMean is the largest peer's share over the mean share.
func maxOverMean(tab *Table, ks []uint64) float64 {
	counts := make([]int, tab.Len())
	for _, k := range ks {
		counts[tab.OwnerIndex(k)]++
	}
	most := 0
	for _, c := range counts {
		most = max(most, c)
	}
	return float64(most) / (float64(len(ks)) / float64(tab.Len()))
}

// TestBalance checks the goal: the largest peer's share of 10,000
// targets is at most 1.15 times the mean, with 3 and 10 peers, for every one
// of 50 different sets of peer names (hostnames differ per fleet, so a
// lucky set must not hide a skew).
func TestBalance(t *testing.T) {
	ks := keys(targets(10000))
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{3, 10} {
		worst, sum := 0.0, 0.0
		const sets = 50
		for s := range sets {
			names := make([]string, n)
			for i := range names {
				names[i] = fmt.Sprintf("ip-10-0-%d-%d.ec2.internal", rng.IntN(256), rng.IntN(256))
			}
			if s == 0 {
				names = peerNames("flow", n)
			}
			r := maxOverMean(New(names), ks)
			worst = max(worst, r)
			sum += r
		}
		t.Logf("%d peers, 10,000 targets: largest share / mean = %.3f on average, %.3f at worst over %d name sets", n, sum/sets, worst, sets)
		if worst > 1.15 {
			t.Errorf("%d peers: largest share / mean = %.3f, want ≤ 1.15", n, worst)
		}
	}
}

// TestPeerLeavesMovesOnlyItsTargets: when one of N peers leaves, exactly the
// targets it owned move, about 1/N of them, and every other target keeps
// its owner.
func TestPeerLeavesMovesOnlyItsTargets(t *testing.T) {
	ks := keys(targets(10000))
	for _, n := range []int{3, 5, 10, 30} {
		names := peerNames("flow", n)
		before := New(names)
		for _, gone := range []int{0, n / 2, n - 1} {
			rest := append(append([]string{}, names[:gone]...), names[gone+1:]...)
			after := New(rest)
			moved := 0
			for _, k := range ks {
				ob, _ := before.Owner(k)
				oa, _ := after.Owner(k)
				if ob == names[gone] {
					moved++
					if oa == names[gone] {
						t.Fatalf("key still owned by the peer that left")
					}
					continue
				}
				if oa != ob {
					t.Fatalf("%d peers, %s left: key %#x moved from %s to %s although its owner stayed", n, names[gone], k, ob, oa)
				}
			}
			frac := float64(moved) / float64(len(ks))
			if ideal := 1 / float64(n); math.Abs(frac-ideal) > 0.3*ideal {
				t.Errorf("%d peers, %s left: %.1f%% of targets moved, want about %.1f%%", n, names[gone], 100*frac, 100*ideal)
			}
		}
	}
}

// TestPeerJoinsTakesAboutItsShare: when a peer joins N others, only targets
// that it now owns move, about 1/(N+1) of them.
func TestPeerJoinsTakesAboutItsShare(t *testing.T) {
	ks := keys(targets(10000))
	for _, n := range []int{2, 3, 9} {
		names := peerNames("flow", n)
		before := New(names)
		after := New(append(names, "newcomer"))
		moved := 0
		for _, k := range ks {
			ob, _ := before.Owner(k)
			oa, _ := after.Owner(k)
			if oa != ob {
				if oa != "newcomer" {
					t.Fatalf("key moved from %s to %s, not to the peer that joined", ob, oa)
				}
				moved++
			}
		}
		frac := float64(moved) / float64(len(ks))
		ideal := 1 / float64(n+1)
		t.Logf("%d+1 peers: %.2f%% of targets moved (ideal %.2f%%)", n, 100*frac, 100*ideal)
		if math.Abs(frac-ideal) > 0.15*ideal {
			t.Errorf("%d peers + 1: %.1f%% of targets moved, want about %.1f%%", n, 100*frac, 100*ideal)
		}
	}
}

// BenchmarkOwnership10kTargets10Peers is the work a peer does on every
// membership change for a scrape component with 10,000 targets: hash each
// target's labels and find its owner among 10 peers.
func BenchmarkOwnership10kTargets10Peers(b *testing.B) {
	ts := targets(10000)
	tab := New(peerNames("flow", 10))
	b.ReportAllocs()
	for b.Loop() {
		owned := 0
		for _, t := range ts {
			if i := tab.OwnerIndex(Key(t)); i == 0 {
				owned++
			}
		}
		if owned == 0 {
			b.Fatal("peer 0 owns nothing")
		}
	}
}

// BenchmarkOwner10kKeys is the lookup alone, with the keys already hashed
// (the cluster caches them per component), for 10 and 100 peers.
func BenchmarkOwner10kKeys(b *testing.B) {
	ks := keys(targets(10000))
	for _, n := range []int{10, 100} {
		tab := New(peerNames("flow", n))
		b.Run(fmt.Sprintf("peers=%d", n), func(b *testing.B) {
			for b.Loop() {
				sum := 0
				for _, k := range ks {
					sum += tab.OwnerIndex(k)
				}
				if sum == 0 {
					b.Fatal("no owners")
				}
			}
		})
	}
}
