package tokens

import "testing"

// Preload loads every vocabulary, so that no request pays for it.
func TestPreloadLoadsEveryVocabulary(t *testing.T) {
	if len(vocabularies) != 2 || vocabularies[0] != o200k || vocabularies[1] != cl100k {
		t.Fatalf("Preload loads %d vocabularies; want o200k_base and cl100k_base", len(vocabularies))
	}
	// Fresh encodings, which no other test has loaded.
	saved := vocabularies
	defer func() { vocabularies = saved }()
	vocabularies = []*encoding{newEncoding("o200k_base", splitO200k), newEncoding("cl100k_base", splitCL100k)}
	for _, e := range vocabularies {
		if e.loaded.Load() {
			t.Fatalf("%s loaded before Preload", e.name)
		}
	}
	Preload()
	for _, e := range vocabularies {
		if !e.loaded.Load() {
			t.Errorf("%s not loaded by Preload", e.name)
		}
	}
}
