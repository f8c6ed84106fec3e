package queue

// seriesTable maps WAL series refs to the queue's series. Every sample read
// from the WAL is looked up here, so this is on the per-sample path: a Go
// map costs a hash and, with 100k series, a cache miss or two per sample
// (0.13 µs per sample at 100k series in the bench/metrics profile). WAL
// refs are handed out consecutively (flow's WAL and Prometheus' agent
// alike) and a scrape's samples come in the order their series were first
// written, so the table is an array of pages of consecutive refs: a lookup
// is two indexings, and a record's lookups walk memory in order.
//
// Refs at or above maxPagedRef (2^28 series ever created; a WAL of
// another origin could have any ref) go to a map. A page is freed when its
// last series is deleted; the page array itself keeps one pointer per
// seriesPageLen refs ever used (8 B per 256 refs of churn, at most 8 MiB).
// Memory is 8 B per ref of a live page: 8 B per series when series are
// dense, at worst a whole page (2 KiB) for a series whose page-mates all
// went away (long-lived series scattered among churning ones).
type seriesTable struct {
	pages []*seriesPage
	big   map[uint64]*series
	n     int
}

const (
	seriesPageBits = 8
	seriesPageLen  = 1 << seriesPageBits
	// maxPagedRef bounds the page array at 2^20 pointers (8 MiB).
	maxPagedRef = 1 << (20 + seriesPageBits)
)

type seriesPage struct {
	s    [seriesPageLen]*series
	live int
}

func (t *seriesTable) get(ref uint64) *series {
	if ref >= maxPagedRef {
		return t.big[ref]
	}
	p := ref >> seriesPageBits
	if p >= uint64(len(t.pages)) {
		return nil
	}
	pg := t.pages[p]
	if pg == nil {
		return nil
	}
	return pg.s[ref&(seriesPageLen-1)]
}

// set stores s (not nil) at ref.
func (t *seriesTable) set(ref uint64, s *series) {
	if ref >= maxPagedRef {
		if t.big == nil {
			t.big = map[uint64]*series{}
		}
		if _, ok := t.big[ref]; !ok {
			t.n++
		}
		t.big[ref] = s
		return
	}
	p := ref >> seriesPageBits
	if p >= uint64(len(t.pages)) {
		t.pages = append(t.pages, make([]*seriesPage, int(p)+1-len(t.pages))...)
	}
	pg := t.pages[p]
	if pg == nil {
		pg = &seriesPage{}
		t.pages[p] = pg
	}
	slot := &pg.s[ref&(seriesPageLen-1)]
	if *slot == nil {
		pg.live++
		t.n++
	}
	*slot = s
}

func (t *seriesTable) delete(ref uint64) {
	if ref >= maxPagedRef {
		if _, ok := t.big[ref]; ok {
			delete(t.big, ref)
			t.n--
		}
		return
	}
	p := ref >> seriesPageBits
	if p >= uint64(len(t.pages)) || t.pages[p] == nil {
		return
	}
	pg := t.pages[p]
	slot := &pg.s[ref&(seriesPageLen-1)]
	if *slot == nil {
		return
	}
	*slot = nil
	t.n--
	if pg.live--; pg.live == 0 {
		t.pages[p] = nil
	}
}

func (t *seriesTable) len() int { return t.n }

// each calls f with every ref and series, in ref order for the paged
// refs; f may delete the series it is given.
func (t *seriesTable) each(f func(ref uint64, s *series)) {
	for p, pg := range t.pages {
		if pg == nil {
			continue
		}
		for i := range pg.s {
			if s := pg.s[i]; s != nil {
				f(uint64(p)<<seriesPageBits|uint64(i), s)
				if t.pages[p] == nil {
					break // f deleted the page's last series
				}
			}
		}
	}
	for ref, s := range t.big {
		f(ref, s)
	}
}
