package domain_test

import (
	"strings"
	"testing"

	"github.com/openbackbeat/backbeat/domain"
)

var allStatuses = []domain.Status{
	domain.StatusNone, domain.StatusPending, domain.StatusProcessing,
	domain.StatusCompleted, domain.StatusFailed, domain.StatusReplica,
}

func TestParseStatus(t *testing.T) {
	for _, st := range allStatuses {
		got, err := domain.ParseStatus(string(st))
		if err != nil || got != st {
			t.Errorf("ParseStatus(%q) = %q, %v; want %q, nil", st, got, err, st)
		}
	}
	for _, s := range []string{"pending", "Completed", "DONE", " PENDING", "REPLICA\x00"} {
		got, err := domain.ParseStatus(s)
		if err == nil {
			t.Errorf("ParseStatus(%q) = %q, nil; want an error", s, got)
			continue
		}
		if !strings.Contains(err.Error(), "unknown replication status") {
			t.Errorf("ParseStatus(%q) error %q does not say what is wrong", s, err)
		}
	}
}

// TestStatusCanBecome checks every ordered pair of statuses against the
// per-site state machine: PENDING -> PROCESSING | COMPLETED | FAILED,
// PROCESSING -> COMPLETED | FAILED, FAILED -> PENDING (a retry), nothing
// else. In particular COMPLETED and REPLICA are final.
func TestStatusCanBecome(t *testing.T) {
	type move struct{ from, to domain.Status }
	legal := map[move]bool{
		{domain.StatusPending, domain.StatusProcessing}:   true,
		{domain.StatusPending, domain.StatusCompleted}:    true,
		{domain.StatusPending, domain.StatusFailed}:       true,
		{domain.StatusProcessing, domain.StatusCompleted}: true,
		{domain.StatusProcessing, domain.StatusFailed}:    true,
		{domain.StatusFailed, domain.StatusPending}:       true,
	}
	for _, from := range allStatuses {
		for _, to := range allStatuses {
			want := legal[move{from, to}]
			t.Run(string(from)+"->"+string(to), func(t *testing.T) {
				if got := from.CanBecome(to); got != want {
					t.Errorf("%q.CanBecome(%q) = %v, want %v", from, to, got, want)
				}
			})
		}
	}
}

func TestAggregate(t *testing.T) {
	const (
		P  = domain.StatusPending
		PR = domain.StatusProcessing
		C  = domain.StatusCompleted
		F  = domain.StatusFailed
	)
	tests := []struct {
		name  string
		sites []domain.Status
		want  domain.Status
	}{
		{"no sites", nil, domain.StatusNone},
		{"one pending", []domain.Status{P}, PR},
		{"one processing", []domain.Status{PR}, PR},
		{"one completed", []domain.Status{C}, C},
		{"one failed", []domain.Status{F}, F},
		{"all completed", []domain.Status{C, C, C}, C},
		{"completed and pending", []domain.Status{C, P}, PR},
		{"pending and completed", []domain.Status{P, C}, PR},
		{"completed and processing", []domain.Status{C, PR}, PR},
		{"failed wins over pending", []domain.Status{P, F}, F},
		{"failed first wins over pending", []domain.Status{F, P}, F},
		{"failed wins over completed", []domain.Status{C, F, C}, F},
		{"failed wins over processing", []domain.Status{PR, F}, F},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var backends []domain.Backend
			for i, st := range tt.sites {
				backends = append(backends, domain.Backend{Site: string(rune('a' + i)), Status: st})
			}
			if got := domain.Aggregate(backends); got != tt.want {
				t.Errorf("Aggregate(%v) = %q, want %q", tt.sites, got, tt.want)
			}
		})
	}
	if got := domain.Aggregate([]domain.Backend{}); got != domain.StatusNone {
		t.Errorf("Aggregate(empty slice) = %q, want %q", got, domain.StatusNone)
	}
}
