package domain

import (
	"fmt"
	"slices"
	"strings"
)

// Refusals returns, with the reason, the sites of pending that a version
// of key in b must not be replicated to: b does not replicate key
// (versioning off, no configuration, no enabled rule matches), the rule
// that matches does not name the site, or the site is not one of known,
// the sites this service serves. bad is an ErrPoison naming the unknown
// sites, when there are some: bad input rather than a configuration change.
func (b Bucket) Refusals(key string, pending, known []string) (refused map[string]string, bad error) {
	refused = map[string]string{}
	rule, ok := b.RuleFor(key)
	var unknown []string
	for _, s := range pending {
		switch {
		case !ok:
			refused[s] = "replication disabled for object: versioning off or no enabled rule matches the key"
		case !slices.Contains(rule.Sites(), s):
			refused[s] = fmt.Sprintf("replication rule %q does not replicate to site %q", rule.ID, s)
		case !slices.Contains(known, s):
			refused[s] = fmt.Sprintf("unknown site %q: not configured in this service (sites: %s)", s, strings.Join(known, ", "))
			unknown = append(unknown, s)
		}
	}
	if len(unknown) > 0 {
		bad = fmt.Errorf("%w: unknown site(s) %s: not configured in this service (sites: %s)", ErrPoison, strings.Join(unknown, ", "), strings.Join(known, ", "))
	}
	return refused, bad
}

// RefuseAll refuses every site of pending for the same reason: the bucket
// is gone, or its document cannot be used.
func RefuseAll(pending []string, reason string) map[string]string {
	refused := make(map[string]string, len(pending))
	for _, s := range pending {
		refused[s] = reason
	}
	return refused
}
