package identity

import (
	"fmt"
	"path"
)

// AllowList is a list of exact values or path.Match patterns, in which "*"
// matches any run of characters except "/". An empty AllowList allows
// everything.
type AllowList struct {
	patterns []string
}

// NewAllowList returns an AllowList after normalizing each entry with
// normalize (which may be nil) and checking its pattern syntax. Normalizing
// lets an entry use the same pasted forms as the values it is matched with.
func NewAllowList(entries []string, normalize func(string) (string, error)) (AllowList, error) {
	var list AllowList
	for _, entry := range entries {
		if normalize != nil {
			var err error
			if entry, err = normalize(entry); err != nil {
				return AllowList{}, err
			}
		}
		if _, err := path.Match(entry, ""); err != nil {
			return AllowList{}, fmt.Errorf("invalid pattern %q: %w", entry, err)
		}
		list.patterns = append(list.patterns, entry)
	}
	return list, nil
}

// Allows reports whether value is allowed.
func (l AllowList) Allows(value string) bool {
	if len(l.patterns) == 0 {
		return true
	}
	for _, pattern := range l.patterns {
		if ok, _ := path.Match(pattern, value); ok {
			return true
		}
	}
	return false
}

// Empty reports whether the list has no entries and so allows everything.
func (l AllowList) Empty() bool {
	return len(l.patterns) == 0
}

// String returns the entries separated by commas.
func (l AllowList) String() string {
	s := ""
	for i, p := range l.patterns {
		if i > 0 {
			s += ","
		}
		s += p
	}
	return s
}
