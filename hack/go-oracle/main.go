// go-oracle answers questions with the real Go libraries irc reimplements, so the e2e tests can
// check irc against them: Masterminds/semver (e2e/test_semver_oracle.py), path.Match globs and
// regexp (RE2) patterns with Regexp.ExpandString templates (e2e/test_go_oracle_*.py).
//
// Protocol: one JSON query per stdin line, one JSON answer per stdout line, in order.
//
//	{"op":"check","constraint":C,"version":V} -> {"constraint_ok":bool,"version_ok":bool,"matches":bool}
//	{"op":"compare","a":A,"b":B}              -> {"ok":bool,"result":-1|0|1}
//	{"op":"match","pattern":P,"name":N}       -> {"ok":bool,"matched":bool}
//	{"op":"regex","pattern":P,"text":T,"template":X}
//	    -> {"ok":bool,"error":string,"matched":bool,"groups":[string|null,...]|null,"expanded":string}
//
// match is path.Match (ok is false on ErrBadPattern, which path.Match may only notice once matching
// reaches the bad part). regex is regexp.Compile, then FindStringSubmatchIndex on the text: groups
// holds each submatch (null where a group did not take part, which FindStringSubmatch reports as ""),
// and expanded is re.ExpandString(nil, template, text, match), as Flux's filterTags extract does.
//
// Built by hack/build-binaries.sh into $IRC_CACHE/go-oracle-$MASTERMINDS_SEMVER_VERSION/.
package main

import (
	"bufio"
	"encoding/json"
	"io"
	"log"
	"os"
	"path"
	"regexp"

	"github.com/Masterminds/semver/v3"
)

type query struct {
	Op         string `json:"op"`
	Constraint string `json:"constraint"`
	Version    string `json:"version"`
	A          string `json:"a"`
	B          string `json:"b"`
	Pattern    string `json:"pattern"`
	Name       string `json:"name"`
	Text       string `json:"text"`
	Template   string `json:"template"`
}

type checkAnswer struct {
	ConstraintOK bool `json:"constraint_ok"`
	VersionOK    bool `json:"version_ok"`
	Matches      bool `json:"matches"`
}

type compareAnswer struct {
	OK     bool `json:"ok"`
	Result int  `json:"result"`
}

type matchAnswer struct {
	OK      bool `json:"ok"`
	Matched bool `json:"matched"`
}

type regexAnswer struct {
	OK       bool      `json:"ok"`
	Error    string    `json:"error"`
	Matched  bool      `json:"matched"`
	Groups   []*string `json:"groups"`
	Expanded string    `json:"expanded"`
}

func regexQuery(q query) regexAnswer {
	re, err := regexp.Compile(q.Pattern)
	if err != nil {
		return regexAnswer{Error: err.Error()}
	}
	a := regexAnswer{OK: true}
	m := re.FindStringSubmatchIndex(q.Text)
	if m == nil {
		return a
	}
	a.Matched = true
	a.Groups = make([]*string, len(m)/2)
	for i := range a.Groups {
		if m[2*i] >= 0 {
			s := q.Text[m[2*i]:m[2*i+1]]
			a.Groups[i] = &s
		}
	}
	a.Expanded = string(re.ExpandString(nil, q.Template, q.Text, m))
	return a
}

func main() {
	in := bufio.NewReader(os.Stdin)
	out := bufio.NewWriter(os.Stdout)
	enc := json.NewEncoder(out) // one answer per line
	for {
		line, err := in.ReadBytes('\n')
		if err == io.EOF && len(line) == 0 {
			break
		} else if err != nil && err != io.EOF {
			log.Fatal(err)
		}
		var q query
		if err := json.Unmarshal(line, &q); err != nil {
			log.Fatalf("bad query %q: %v", line, err)
		}
		var answer any
		switch q.Op {
		case "check":
			c, cerr := semver.NewConstraint(q.Constraint)
			v, verr := semver.NewVersion(q.Version) // loose, as irc's Constraint.matches
			a := checkAnswer{ConstraintOK: cerr == nil, VersionOK: verr == nil}
			a.Matches = a.ConstraintOK && a.VersionOK && c.Check(v)
			answer = a
		case "compare":
			// irc's compare_versions parses loosely ("1.2", "v1", "01.2.3"), so NewVersion here too.
			a, aerr := semver.NewVersion(q.A)
			b, berr := semver.NewVersion(q.B)
			ans := compareAnswer{OK: aerr == nil && berr == nil}
			if ans.OK {
				ans.Result = a.Compare(b)
			}
			answer = ans
		case "match":
			matched, err := path.Match(q.Pattern, q.Name)
			answer = matchAnswer{OK: err == nil, Matched: matched}
		case "regex":
			answer = regexQuery(q)
		default:
			log.Fatalf("unknown op %q", q.Op)
		}
		if err := enc.Encode(answer); err != nil {
			log.Fatal(err)
		}
		// Flush once the queued input is consumed, so batched queries are answered in bulk and a
		// lone query is not left waiting in the buffer.
		if in.Buffered() == 0 {
			if err := out.Flush(); err != nil {
				log.Fatal(err)
			}
		}
	}
	if err := out.Flush(); err != nil {
		log.Fatal(err)
	}
}
