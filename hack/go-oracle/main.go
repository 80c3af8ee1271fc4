// go-oracle answers questions with the real Go libraries irc reimplements, so the e2e tests can
// check irc against them: Masterminds/semver (e2e/test_semver_oracle.py), path.Match globs and
// regexp (RE2) patterns with Regexp.ExpandString templates, distribution/reference image references
// and fluxcd/pkg/version tag versions (e2e/test_go_oracle_*.py), and Go templates with text/template and
// Masterminds/sprig (e2e/test_go_oracle_template.py).
//
// Protocol: one JSON query per stdin line, one JSON answer per stdout line, in order.
//
//	{"op":"check","constraint":C,"version":V} -> {"constraint_ok":bool,"version_ok":bool,"matches":bool}
//	{"op":"compare","a":A,"b":B}              -> {"ok":bool,"result":-1|0|1}
//	{"op":"match","pattern":P,"name":N}       -> {"ok":bool,"matched":bool}
//	{"op":"regex","pattern":P,"text":T,"template":X}
//	    -> {"ok":bool,"error":string,"matched":bool,"groups":[string|null,...]|null,"expanded":string}
//	{"op":"reference","text":T}
//	    -> {"ok":bool,"error":string,"normalized":string,"familiar":string,"familiar_name":string,
//	        "name":string,"domain":string,"path":string,"tag":string,"digest":string,
//	        "docker_ref_ok":bool,"docker_ref":string}
//	{"op":"flux_version","text":T}           -> {"ok":bool,"error":string,"version":string}
//	{"op":"flux_compare","a":A,"b":B}        -> {"ok":bool,"result":-1|0|1}
//	{"op":"flux_latest","constraint":C,"tags":[T,...]} -> {"ok":bool,"found":bool,"latest":string}
//	{"op":"gotemplate","template":T,"data":D,"struct":bool,"missingkey":M,"template_name":N}
//	    -> {"ok":bool,"phase":"data"|"parse"|"exec"|"","error":string,"output":string}
//
// match is path.Match (ok is false on ErrBadPattern, which path.Match may only notice once matching
// reaches the bad part). regex is regexp.Compile, then FindStringSubmatchIndex on the text: groups
// holds each submatch (null where a group did not take part, which FindStringSubmatch reports as ""),
// and expanded is re.ExpandString(nil, template, text, match), as Flux's filterTags extract does.
//
// reference is reference.ParseNormalizedNamed (what containerd, CRI-O and Docker parse image names
// with): normalized is String(), familiar FamiliarString, familiar_name FamiliarName, name Name(),
// domain and path Domain and Path, tag and digest "" when absent; docker_ref is ParseDockerRef's
// String() (latest added to a bare name, the tag dropped when a digest is present). go-digest accepts
// an algorithm only when its hash is linked in, so this program links sha256 and sha512 as every
// image-pulling program does: sha256, sha384 and sha512 digests are valid, all others unsupported.
//
// flux_version is fluxcd/pkg/version.ParseVersion, which Flux's ImagePolicy semver policy parses tags
// with (at least two dots, then Masterminds' loose NewVersion, so zero-padded CalVer such as
// v2025.07.03 is a version); version is the parsed String() (no "v", numbers without leading zeros).
// flux_compare is ParseVersion on both sides, then Compare. flux_latest is the semver policy's choice:
// the constraint is NewConstraint (ok is false when invalid), each tag goes through ParseVersion and
// Check, and a tag replaces the current pick only when GreaterThan it, so among tags of equal
// precedence the first listed wins; latest is the Original() text of the pick, found false if none.
//
// gotemplate is text/template with sprig's TxtFuncMap (github.com/Masterminds/sprig/v3) plus the four
// functions the seed (S-mishina/image-resource-controller) defines that sprig lacks, written here from
// their documented behaviour: toLower, toUpper, k8sName and required (value first, message second).
// template.New(N).Funcs(...).Option("missingkey=M").Parse(T) (N "" is "t", M "" is Go's default), then
// Execute with the data: JSON objects become map[string]interface{}, arrays []interface{}, integers int
// (other numbers float64). With "struct" the top level becomes a struct instead, as the seed's
// TemplateVars is: one exported field per key in sorted order (keys must be exported Go identifiers), a
// string field for a string, a map[string]string field for an object of strings (the seed's Variables),
// interface{} otherwise; a field the struct lacks is then an error, where a missing map key prints
// "<no value>". phase says where it failed ("data", "parse" or "exec"); output is what Execute wrote
// before failing. Output bytes that are not UTF-8 arrive as U+FFFD (encoding/json's rule).
//
// Built by hack/build-binaries.sh into $IRC_CACHE/go-oracle-$MASTERMINDS_SEMVER_VERSION/, with the
// library versions hack/versions.env pins (go.mod must require exactly those).
package main

import (
	"bufio"
	"bytes"
	_ "crypto/sha256" // go-digest's sha256 is Available() only when linked
	_ "crypto/sha512" // and so are sha384 and sha512
	"encoding/json"
	"fmt"
	"io"
	"log"
	"os"
	"path"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"text/template"
	"unicode"
	"unicode/utf8"

	"github.com/Masterminds/semver/v3"
	"github.com/Masterminds/sprig/v3"
	"github.com/distribution/reference"
	"github.com/fluxcd/pkg/version"
)

type query struct {
	Op         string          `json:"op"`
	Constraint string          `json:"constraint"`
	Version    string          `json:"version"`
	A          string          `json:"a"`
	B          string          `json:"b"`
	Pattern    string          `json:"pattern"`
	Name       string          `json:"name"`
	Text       string          `json:"text"`
	Template   string          `json:"template"`
	Tags       []string        `json:"tags"`
	Data       json.RawMessage `json:"data"`
	Struct     bool            `json:"struct"`
	MissingKey string          `json:"missingkey"`
	TmplName   string          `json:"template_name"`
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

type referenceAnswer struct {
	OK           bool   `json:"ok"`
	Error        string `json:"error"`
	Normalized   string `json:"normalized"`
	Familiar     string `json:"familiar"`
	FamiliarName string `json:"familiar_name"`
	Name         string `json:"name"`
	Domain       string `json:"domain"`
	Path         string `json:"path"`
	Tag          string `json:"tag"`
	Digest       string `json:"digest"`
	DockerRefOK  bool   `json:"docker_ref_ok"`
	DockerRef    string `json:"docker_ref"`
}

type versionAnswer struct {
	OK      bool   `json:"ok"`
	Error   string `json:"error"`
	Version string `json:"version"`
}

type latestAnswer struct {
	OK     bool   `json:"ok"`
	Found  bool   `json:"found"`
	Latest string `json:"latest"`
}

func referenceQuery(text string) referenceAnswer {
	named, err := reference.ParseNormalizedNamed(text)
	if err != nil {
		return referenceAnswer{Error: err.Error()}
	}
	a := referenceAnswer{
		OK:           true,
		Normalized:   named.String(),
		Familiar:     reference.FamiliarString(named),
		FamiliarName: reference.FamiliarName(named),
		Name:         named.Name(),
		Domain:       reference.Domain(named),
		Path:         reference.Path(named),
	}
	if tagged, ok := named.(reference.Tagged); ok {
		a.Tag = tagged.Tag()
	}
	if digested, ok := named.(reference.Digested); ok {
		a.Digest = digested.Digest().String()
	}
	if docker, err := reference.ParseDockerRef(text); err == nil {
		a.DockerRefOK, a.DockerRef = true, docker.String()
	}
	return a
}

func fluxLatest(q query) latestAnswer {
	c, err := semver.NewConstraint(q.Constraint)
	if err != nil {
		return latestAnswer{}
	}
	var latest *semver.Version
	for _, tag := range q.Tags {
		v, err := version.ParseVersion(tag)
		if err == nil && c.Check(v) && (latest == nil || v.GreaterThan(latest)) {
			latest = v
		}
	}
	if latest == nil {
		return latestAnswer{OK: true}
	}
	return latestAnswer{OK: true, Found: true, Latest: latest.Original()}
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

type templateAnswer struct {
	OK     bool   `json:"ok"`
	Phase  string `json:"phase"`
	Error  string `json:"error"`
	Output string `json:"output"`
}

// seedFuncs are the seed's own template functions that sprig does not have.
var seedFuncs = template.FuncMap{
	"toLower": strings.ToLower,
	"toUpper": strings.ToUpper,
	"k8sName": k8sName,
	"required": func(value any, message string) (any, error) {
		if s, ok := value.(string); value == nil || ok && s == "" {
			return nil, fmt.Errorf("required value missing: %s", message)
		}
		return value, nil
	},
}

// k8sName lowercases, turns every rune outside [a-z0-9-] into "-", trims "-" at both ends, keeps at
// most 63 bytes (then trims trailing "-" again) and gives "unnamed" for an empty result.
func k8sName(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	s := strings.Trim(b.String(), "-")
	if len(s) > 63 {
		s = strings.TrimRight(s[:63], "-")
	}
	if s == "" {
		return "unnamed"
	}
	return s
}

// jsonValue turns UseNumber-decoded JSON into template data: integers as int, other numbers float64.
func jsonValue(v any) any {
	switch v := v.(type) {
	case json.Number:
		if !strings.ContainsAny(string(v), ".eE") {
			if i, err := v.Int64(); err == nil {
				return int(i)
			}
		}
		f, _ := v.Float64()
		return f
	case map[string]any:
		for k, e := range v {
			v[k] = jsonValue(e)
		}
		return v
	case []any:
		for i, e := range v {
			v[i] = jsonValue(e)
		}
		return v
	}
	return v
}

// asStruct builds the seed-like struct for a top-level object (see the header).
func asStruct(m map[string]any) (any, error) {
	keys := make([]string, 0, len(m))
	for k := range m {
		r, _ := utf8.DecodeRuneInString(k)
		if !unicode.IsUpper(r) {
			return nil, fmt.Errorf("struct field %q is not exported", k)
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fields := make([]reflect.StructField, len(keys))
	values := make([]reflect.Value, len(keys))
	for i, k := range keys {
		v := reflect.ValueOf(m[k])
		typ := reflect.TypeFor[any]()
		switch x := m[k].(type) {
		case string:
			typ = v.Type()
		case map[string]any:
			strs := make(map[string]string, len(x))
			for mk, mv := range x {
				if s, ok := mv.(string); ok {
					strs[mk] = s
				}
			}
			if len(strs) == len(x) {
				typ, v = reflect.TypeFor[map[string]string](), reflect.ValueOf(strs)
			}
		}
		fields[i] = reflect.StructField{Name: k, Type: typ}
		values[i] = v
	}
	s := reflect.New(reflect.StructOf(fields)).Elem()
	for i, v := range values {
		if v.IsValid() {
			s.Field(i).Set(v)
		}
	}
	return s.Interface(), nil
}

func templateQuery(q query) templateAnswer {
	var data any
	if len(q.Data) > 0 {
		dec := json.NewDecoder(bytes.NewReader(q.Data))
		dec.UseNumber()
		if err := dec.Decode(&data); err != nil {
			return templateAnswer{Phase: "data", Error: err.Error()}
		}
		data = jsonValue(data)
	}
	if m, ok := data.(map[string]any); ok && q.Struct {
		var err error
		if data, err = asStruct(m); err != nil {
			return templateAnswer{Phase: "data", Error: err.Error()}
		}
	}
	name := q.TmplName
	if name == "" {
		name = "t"
	}
	t := template.New(name).Funcs(sprig.TxtFuncMap()).Funcs(seedFuncs)
	if q.MissingKey != "" {
		t = t.Option("missingkey=" + q.MissingKey)
	}
	t, err := t.Parse(q.Template)
	if err != nil {
		return templateAnswer{Phase: "parse", Error: err.Error()}
	}
	var out bytes.Buffer
	if err := t.Execute(&out, data); err != nil {
		return templateAnswer{Phase: "exec", Error: err.Error(), Output: out.String()}
	}
	return templateAnswer{OK: true, Output: out.String()}
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
		case "reference":
			answer = referenceQuery(q.Text)
		case "flux_version":
			v, err := version.ParseVersion(q.Text)
			if err != nil {
				answer = versionAnswer{Error: err.Error()}
			} else {
				answer = versionAnswer{OK: true, Version: v.String()}
			}
		case "flux_compare":
			a, aerr := version.ParseVersion(q.A)
			b, berr := version.ParseVersion(q.B)
			ans := compareAnswer{OK: aerr == nil && berr == nil}
			if ans.OK {
				ans.Result = a.Compare(b)
			}
			answer = ans
		case "flux_latest":
			answer = fluxLatest(q)
		case "gotemplate":
			answer = templateQuery(q)
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
