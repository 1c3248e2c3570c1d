package drift

import "testing"

func TestLabelsNameEveryBucket(t *testing.T) {
	for _, d := range Dimensions() {
		if got := len(d.Labels()); got != bucketCount[d] {
			t.Errorf("%s: %d labels for %d buckets", d, got, bucketCount[d])
		}
	}
	if got := PromptTokens.Labels(); got[0] != "<16" || got[1] != "16–64" || got[len(got)-1] != "≥65536" {
		t.Errorf("prompt token labels = %q", got)
	}
}
