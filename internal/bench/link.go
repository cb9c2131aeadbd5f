package bench

import "strings"

// NextLink returns the target of the rel="next" entry of an RFC 8288 Link
// header value such as `</v2/_catalog?last=a&n=100>; rel="next"`, and
// whether there was one. Several comma-separated links may be present.
func NextLink(header string) (string, bool) {
	for _, link := range splitLinks(header) {
		target, params, ok := parseLink(link)
		if !ok {
			continue
		}
		for _, p := range params {
			k, v, _ := strings.Cut(p, "=")
			if !strings.EqualFold(strings.TrimSpace(k), "rel") {
				continue
			}
			for _, rel := range strings.Fields(strings.Trim(strings.TrimSpace(v), `"`)) {
				if strings.EqualFold(rel, "next") {
					return target, true
				}
			}
		}
	}
	return "", false
}

// splitLinks splits a Link header on the commas between links, ignoring
// commas inside <...> (a URL may contain them).
func splitLinks(header string) []string {
	var out []string
	depth, start := 0, 0
	for i, c := range header {
		switch c {
		case '<':
			depth++
		case '>':
			depth = max(0, depth-1)
		case ',':
			if depth == 0 {
				out = append(out, header[start:i])
				start = i + 1
			}
		}
	}
	return append(out, header[start:])
}

// parseLink splits one `<target>; k=v; ...` entry into its target and
// parameters.
func parseLink(link string) (string, []string, bool) {
	link = strings.TrimSpace(link)
	if !strings.HasPrefix(link, "<") {
		return "", nil, false
	}
	end := strings.IndexByte(link, '>')
	if end < 0 {
		return "", nil, false
	}
	var params []string
	for _, p := range strings.Split(link[end+1:], ";") {
		if p = strings.TrimSpace(p); p != "" {
			params = append(params, p)
		}
	}
	return link[1:end], params, true
}
