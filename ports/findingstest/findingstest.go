// Package findingstest is the contract suite of ports.FindingStore, run
// by every adapter:
//
//	findingstest.Run(t, func(t *testing.T) ports.FindingStore { return newStore(t) })
//
// Each case uses job ids of its own and runs in parallel.
package findingstest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
	shared "github.com/openbackbeat/backbeat/ports/internal/suite"
)

const timeout = time.Minute

// Run runs the contract cases, each on a store from newStore.
func Run(t *testing.T, newStore func(t *testing.T) ports.FindingStore) {
	t.Helper()
	shared.Run(t, newStore, []shared.Case[ports.FindingStore]{
		{Name: "ReportOrderAndPages", Fn: testPages},
		{Name: "OneKind", Fn: testKind},
		{Name: "StoringAgainAddsNothing", Fn: testIdempotent},
		{Name: "JobsAreApart", Fn: testJobsApart},
		{Name: "ConcurrentJobs", Fn: testConcurrent},
		{Name: "NoFindings", Fn: testNone},
	})
}

// sample returns findings of every kind over keys with awkward bytes, in
// no particular order.
func sample() []domain.Finding {
	var out []domain.Finding
	keys := []string{"z", "a", "a/b c", "é", "a.b$c", "k\u00a0"}
	for i, k := range keys {
		for j, kind := range domain.FindingKinds {
			if (i+j)%2 == 0 {
				continue
			}
			f := domain.Finding{Kind: kind, Site: "site-a", Key: k, VersionID: fmt.Sprintf("v%d", j), Detail: "d " + k}
			if kind == domain.FindingExtra {
				f.VersionID, f.SiteVersionID = "", "s"+k
			}
			out = append(out, f)
			if i == 0 {
				f.Site = "site-b"
				out = append(out, f)
			}
		}
	}
	return out
}

func sorted(fs []domain.Finding) []domain.Finding {
	out := slices.Clone(fs)
	slices.SortFunc(out, func(a, b domain.Finding) int {
		switch ka, kb := a.SortKey(), b.SortKey(); {
		case ka < kb:
			return -1
		case ka > kb:
			return 1
		}
		return 0
	})
	return out
}

// readAll pages through job's findings of kind, limit at a time.
func readAll(t *testing.T, s ports.FindingStore, job string, kind domain.FindingKind, limit int) []domain.Finding {
	t.Helper()
	ctx := shared.Context(t, timeout)
	var out []domain.Finding
	after := ""
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatal("the findings do not end")
		}
		page, more, err := s.Findings(ctx, job, kind, after, limit)
		if err != nil {
			t.Fatalf("Findings(%s, %q, after %q, %d): %v", job, kind, after, limit, err)
		}
		if len(page) > limit {
			t.Fatalf("a page of %d, limit %d", len(page), limit)
		}
		out = append(out, page...)
		if !more {
			return out
		}
		if len(page) == 0 {
			t.Fatal("an empty page says more follow")
		}
		after = page[len(page)-1].SortKey()
	}
}

func put(t *testing.T, s ports.FindingStore, job string, fs []domain.Finding) {
	t.Helper()
	if err := s.PutFindings(shared.Context(t, timeout), job, fs); err != nil {
		t.Fatalf("PutFindings: %v", err)
	}
}

func testPages(t *testing.T, s ports.FindingStore) {
	job := shared.Unique("job")
	fs := sample()
	put(t, s, job, fs[:7])
	put(t, s, job, fs[7:])
	want := sorted(fs)
	if want[0].Kind != domain.FindingStatusLies {
		t.Fatalf("the sample does not start with status-lies: %+v", want[0])
	}
	for _, limit := range []int{1000, 1, 3, 7} {
		if got := readAll(t, s, job, "", limit); !slices.Equal(got, want) {
			t.Fatalf("pages of %d:\n got %+v\nwant %+v", limit, got, want)
		}
	}
}

func testKind(t *testing.T, s ports.FindingStore) {
	job := shared.Unique("job")
	fs := sample()
	put(t, s, job, fs)
	for _, kind := range domain.FindingKinds {
		var want []domain.Finding
		for _, f := range sorted(fs) {
			if f.Kind == kind {
				want = append(want, f)
			}
		}
		if got := readAll(t, s, job, kind, 2); !slices.Equal(got, want) {
			t.Fatalf("kind %s:\n got %+v\nwant %+v", kind, got, want)
		}
	}
}

func testIdempotent(t *testing.T, s ports.FindingStore) {
	job := shared.Unique("job")
	fs := sample()
	put(t, s, job, fs)
	changed := slices.Clone(fs)
	for i := range changed {
		changed[i].Detail = "again"
	}
	put(t, s, job, changed)
	got := readAll(t, s, job, "", 1000)
	if len(got) != len(fs) {
		t.Fatalf("%d findings after storing %d twice", len(got), len(fs))
	}
	for _, f := range got {
		if f.Detail != "again" {
			t.Fatalf("a finding stored again was not replaced: %+v", f)
		}
	}
}

func testJobsApart(t *testing.T, s ports.FindingStore) {
	a, b := shared.Unique("job"), shared.Unique("job")
	fs := sample()
	put(t, s, a, fs[:3])
	put(t, s, b, fs[3:])
	if got := readAll(t, s, a, "", 1000); !slices.Equal(got, sorted(fs[:3])) {
		t.Fatalf("job a: %+v", got)
	}
	if got := readAll(t, s, b, "", 1000); !slices.Equal(got, sorted(fs[3:])) {
		t.Fatalf("job b: %+v", got)
	}
	// A job id that prefixes another's sees none of the other's.
	put(t, s, a+"x", fs)
	if got := readAll(t, s, a, "", 1000); len(got) != 3 {
		t.Fatalf("job a sees %d findings after job ax stored its own", len(got))
	}
}

func testConcurrent(t *testing.T, s ports.FindingStore) {
	fs := sample()
	var wg sync.WaitGroup
	jobs := make([]string, 4)
	for i := range jobs {
		jobs[i] = shared.Unique("job")
		wg.Go(func() {
			for _, f := range fs {
				if err := s.PutFindings(shared.Context(t, timeout), jobs[i], []domain.Finding{f}); err != nil {
					t.Errorf("PutFindings: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	for _, j := range jobs {
		if got := readAll(t, s, j, "", 1000); !slices.Equal(got, sorted(fs)) {
			t.Fatalf("job %s: %d findings, want %d", j, len(got), len(fs))
		}
	}
}

func testNone(t *testing.T, s ports.FindingStore) {
	page, more, err := s.Findings(shared.Context(t, timeout), shared.Unique("job"), "", "", 10)
	if err != nil || len(page) != 0 || more {
		t.Fatalf("a job without findings: %v %v %v", page, more, err)
	}
	put(t, s, shared.Unique("job"), nil)
}
