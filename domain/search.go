package domain

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Full-text search over a task's title and description.
//
// Words are found here, in Go, for both stores and for both sides of a
// search (the task written and the query read), so that the same words
// find the same tasks whatever the database, its version or its locale:
// the stores only compare the words they are given (Postgres through a
// tsvector built from them, SQLite through an FTS5 index whose "ascii"
// tokenizer splits them on the spaces between them and nothing else).
//
// A word is a maximal run of letters, digits and combining marks (Unicode
// categories L, N and M), compared with its case folded (SearchFold). Text
// is not normalised (the domain uses the standard library only): a word
// typed precomposed ("é") and stored decomposed ("e" and U+0301) differ. Everything else separates words: "e-mail" is the
// words "e" and "mail", "bob@example.com" is "bob", "example" and "com".
// A search matches whole words only (no prefix or substring matches) and
// every word of the query must occur, in any order, in the title or the
// description.
const (
	// MaxSearchWordLen bounds an indexed word, in characters. Longer
	// words are left out of the index: a query (at most MaxSearchLen
	// characters) can never spell them anyway.
	MaxSearchWordLen = 200
	// MaxSearchLen bounds a query, in characters.
	MaxSearchLen = 200
	// MaxSearchWords bounds the distinct words of a query.
	MaxSearchWords = 16
)

// SearchWords returns the distinct words of s, case-folded, in order of
// first occurrence, leaving out words longer than MaxSearchWordLen.
func SearchWords(s string) []string {
	var words []string
	start := -1
	flush := func(end int) {
		if start < 0 {
			return
		}
		w := s[start:end]
		start = -1
		if utf8.RuneCountInString(w) > MaxSearchWordLen {
			return
		}
		w = SearchFold(w)
		if !slices.Contains(words, w) {
			words = append(words, w)
		}
	}
	for i, r := range s {
		if isWordRune(r) {
			if start < 0 {
				start = i
			}
			continue
		}
		flush(i)
	}
	flush(len(s))
	return words
}

func isWordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.IsMark(r)
}

// SearchFold is w with its case folded: each letter lower-cased after
// being upper-cased, so that letters with several lower-case forms (final
// sigma, the long s) fold to one.
func SearchFold(w string) string {
	return strings.Map(func(r rune) rune { return unicode.ToLower(unicode.ToUpper(r)) }, w)
}

// SearchDocument is what a task's search index holds: the words of its
// title and description, separated by single spaces.
func SearchDocument(title, description string) string {
	return strings.Join(SearchWords(title+" "+description), " ")
}

// ParseSearch validates a search query and returns its words, sorted (the
// order of a query's words does not matter, so "b a" and "a b" are one
// query). It must be valid UTF-8 without NUL, 1 to MaxSearchLen
// characters, and hold 1 to MaxSearchWords distinct words.
func ParseSearch(field, q string) ([]string, error) {
	n := utf8.RuneCountInString(q)
	if !utf8.ValidString(q) || strings.IndexByte(q, 0) >= 0 || n < 1 || n > MaxSearchLen {
		return nil, Invalid(FieldError{Field: field, Message: "must be 1 to 200 characters of valid UTF-8 without NUL"})
	}
	words := SearchWords(q)
	switch {
	case len(words) == 0:
		return nil, Invalid(FieldError{Field: field, Message: "must contain at least one word (letters or digits)"})
	case len(words) > MaxSearchWords:
		return nil, Invalid(FieldError{Field: field, Message: "must contain at most 16 distinct words"})
	}
	slices.Sort(words)
	return words, nil
}
