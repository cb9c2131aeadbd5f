package bench

import (
	"slices"
	"testing"
)

func TestRoundOrderRotates(t *testing.T) {
	kinds := []Kind{Wharf, Distribution, DistributionV3}
	tests := []struct {
		round int
		want  []Kind
	}{
		{1, []Kind{Wharf, Distribution, DistributionV3}},
		{2, []Kind{Distribution, DistributionV3, Wharf}},
		{3, []Kind{DistributionV3, Wharf, Distribution}},
		{4, []Kind{Wharf, Distribution, DistributionV3}},
	}
	for _, tt := range tests {
		if got := roundOrder(kinds, tt.round); !slices.Equal(got, tt.want) {
			t.Errorf("round %d: %v, want %v", tt.round, got, tt.want)
		}
	}
	if got := roundOrder([]Kind{Wharf}, 2); !slices.Equal(got, []Kind{Wharf}) {
		t.Errorf("wharf alone: %v", got)
	}
}
