package domain_test

import (
	"testing"

	"github.com/openbackbeat/backbeat/domain"
)

func TestIsULID(t *testing.T) {
	t.Parallel()
	for id, want := range map[string]bool{
		"01JD8Z5Q3XGZ8T6W1N2M4K7B9C":       true,  // versitygw's
		"01jd8z5q3xgz8t6w1n2m4k7b9c":       false, // lower case is not Crockford's canonical form
		"01JD8Z5Q3XGZ8T6W1N2M4K7B9":        false, // 25 characters
		"01JD8Z5Q3XGZ8T6W1N2M4K7B9I":       false, // I, L, O, U are not in the alphabet
		"01JD8Z5Q3XGZ8T6W1N2M4K7BUC":       false,
		"98262174739539999999RG001  1.2.3": false, // CloudServer's
		"":                                 false,
	} {
		if got := domain.IsULID(id); got != want {
			t.Errorf("IsULID(%q) = %v, want %v", id, got, want)
		}
	}
}
