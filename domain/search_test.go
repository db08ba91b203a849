package domain

import (
	"slices"
	"strings"
	"testing"
)

func TestSearchWords(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"  --- !!", nil},
		{"Launch the PRODUCT, launch it", []string{"launch", "the", "product", "it"}},
		{"bob@example.com e-mail v1.2.3 foo_bar", []string{"bob", "example", "com", "e", "mail", "v1", "2", "3", "foo", "bar"}},
		{"Été ΣΟΦΟΣ σοφος straße", []string{"été", "σοφοσ", "straße"}},
		{"हिन्दी खोज", []string{"हिन्दी", "खोज"}}, // combining vowel signs stay inside the word
		{"x" + strings.Repeat("a", MaxSearchWordLen) + " ok", []string{"ok"}},
	} {
		if got := SearchWords(c.in); !slices.Equal(got, c.want) {
			t.Errorf("SearchWords(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestParseSearch(t *testing.T) {
	words, err := ParseSearch("q", "Release  notes release")
	if err != nil || !slices.Equal(words, []string{"notes", "release"}) {
		t.Fatalf("ParseSearch = %q, %v", words, err)
	}
	for _, bad := range []string{"", "!!! ...", "a\x00b", "\xff", strings.Repeat("a", MaxSearchLen+1),
		"a b c d e f g h i j k l m n o p q", "\"'&|!():*"} {
		if _, err := ParseSearch("q", bad); KindOf(err) != KindInvalid {
			t.Errorf("ParseSearch(%q) error %v, want a validation error", bad, err)
		}
	}
	// 16 distinct words are enough, repeated words count once.
	if _, err := ParseSearch("q", strings.Repeat("a b c d e f g h i j k l m n o p ", 3)); err != nil {
		t.Errorf("16 distinct words: %v", err)
	}
}
