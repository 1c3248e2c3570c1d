package guard

import (
	"encoding/base64"
	"fmt"
	"math"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/bulwark-ai/bulwark/config"
)

// Injection scores texts for prompt injection with local heuristics: each
// pattern that matches adds its weight w, the score being 1 − Π(1 − w)
// (so two weak signals together outweigh one), and a text scoring at
// least the threshold is an injection. Patterns are matched on the text
// normalised (lower case; full-width forms, look-alike Cyrillic letters,
// zero-width and combining characters folded away), on its leetspeak and
// ROT13 readings for the strong patterns, and on the decoded form of any
// base64 blob it holds.
type Injection struct {
	threshold float64
	roles     []string
}

// NewInjection returns the check for stage: on input it reads user and
// tool messages, on output the answer. threshold 0 is the default.
func NewInjection(st Stage, threshold float64) *Injection {
	if threshold <= 0 {
		threshold = config.DefaultInjectionThreshold
	}
	roles := []string{"user", "tool", "function"}
	if st == Output {
		roles = []string{"assistant"}
	}
	return &Injection{threshold: threshold, roles: roles}
}

// Name implements Check.
func (*Injection) Name() string { return "injection" }

// Scan implements Check: the reason gives the score and the patterns
// that matched.
func (in *Injection) Scan(ts []Text) string {
	for _, t := range ts {
		if !roleIn(t.Role, in.roles) {
			continue
		}
		score, names := Score(t.Content)
		if score >= in.threshold {
			return fmt.Sprintf("prompt injection suspected (score %.2f, threshold %.2f: %s)", score, in.threshold, strings.Join(names, ", "))
		}
	}
	return ""
}

func roleIn(r string, roles []string) bool {
	for _, x := range roles {
		if r == x {
			return true
		}
	}
	return false
}

// signal is one heuristic: a pattern, its weight and whether it is strong
// enough to be looked for in the text's leetspeak and ROT13 readings.
type signal struct {
	name   string
	weight float64
	re     *regexp.Regexp
	strong bool
	// keys are words one of which the text must hold for re to be
	// tried: most texts hold none, and a substring search is much
	// cheaper than the pattern.
	keys []string
}

// The heuristics. Weights are tuned on the labelled set in testdata (see
// BENCHMARKS.md, "Guardrails (issue 17)"): a strong pattern alone passes
// the default threshold, weaker ones need company.
var signals = []signal{
	{"instruction_override", 0.75, regexp.MustCompile(
		`\b(ignore|disregard|forget|skip|override|bypass|never ?mind|abandon|drop|clear)\b[^.!?\n]*?\b(all|any|every|the|your|my|these|those|of)?\s*` +
			`(previous|prior|preceding|above|earlier|initial|original|old|system|safety|existing|former|given)\b[^.!?\n]*?\b` +
			`(instructions?|prompts?|rules|directions|guidelines|guidance|directives|context|commands?|programming|constraints|restrictions|system messages?)\b`), true, []string{"ignore", "disregard", "forget", "skip", "override", "bypass", "mind", "abandon", "drop", "clear"}},
	{"instruction_override", 0.7, regexp.MustCompile(
		`\b(ignore|disregard|forget)\b\s+(all\s+|about\s+)?(everything|anything|what)\b[^.!?\n]*\b(above|before|prior|previously|you were told|i said|else)`), true, []string{"ignore", "disregard", "forget"}},
	{"instruction_override", 0.55, regexp.MustCompile(
		`\b(ignore|disregard|forget)\s+((all|your|the|any|of|my)\s+){0,3}(instructions|rules|guidelines|safety|programming|restrictions|content polic(y|ies))\b`), true, []string{"ignore", "disregard", "forget"}},
	{"new_instructions", 0.45, regexp.MustCompile(
		`\b(new|real|actual|updated|true)\s+(instructions|rules|task|directive|system prompt|orders)\s*(are|is)?\s*:`), false, []string{":"}},
	{"new_instructions", 0.35, regexp.MustCompile(
		`\bfrom (now|this point)( on| forward)?,? you (will|are|must|shall)\b`), false, []string{"from now", "from this point"}},
	{"prompt_exfiltration", 0.75, regexp.MustCompile(
		`\b(reveal|show|print|output|display|repeat|echo|tell|give|share|leak|dump|quote|list|write|describe|send)\b[^.!?\n]*?\b(your|the|its|all)\s+` +
			`((full|complete|exact|entire|hidden|initial|original|raw|secret|whole)\s+)*` +
			`(system[\s-]*(prompt|message|instructions?|level instructions)|initial instructions|hidden (instructions|directives|rules)|instructions you (were|have been) given|configuration|confidential)`), true, []string{"system", "initial", "hidden", "instructions you", "configuration", "confidential"}},
	{"prompt_exfiltration", 0.6, regexp.MustCompile(
		`\bwhat\b[^.!?\n]*\b(is|are|were|was)\b[^.!?\n]*\byour\s+((exact|full|initial|original)\s+)*(system prompt|instructions|initial instructions|rules|system message)`), true, []string{"your"}},
	{"prompt_exfiltration", 0.6, regexp.MustCompile(
		`\b(repeat|print|output|echo|write out)\b[^.!?\n]*\b(everything|all|the text|the words)\b[^.!?\n]*\b(before|above)\b`), true, []string{"above", "before"}},
	{"prompt_exfiltration", 0.55, regexp.MustCompile(
		`\byour\s+((full|exact|entire|complete|initial|original|hidden|secret|current)\s+)*(system\s*(prompt|message|instructions)|initial (prompt|instructions)|hidden (instructions|directives|rules)|secret instructions)\b|` +
			`\binstructions\b[^.!?\n]*\b(you were given|your (creators|developers?) gave you)`), true, []string{"your", "instructions"}},
	{"prompt_exfiltration", 0.45, regexp.MustCompile(
		`\b(instructions|words|text|rules)\b[^.!?\n]*\b(you were given|you received|at the start of this conversation|in your (prompt|initial instructions))`), false, []string{"you were given", "you received", "at the start", "in your"}},
	// DAN, AIM and STAN are also a name and two words: only as a persona
	// the text makes the model take, or a mode of it.
	{"jailbreak_persona", 0.6, regexp.MustCompile(
		`\b(do anything now|jailbroken|jailbreak mode|evil-?\s?gpt|freedomgpt|unfilteredgpt|nofilter)\b|` +
			`\b(you are|you're|act as|acting as|as|called|named|become|be|pretend to be|simulate|respond as|answer as|stay)\s+(an? )?(dan|aim|stan)\b|` +
			`\b(dan|aim|stan)\s+(mode|prompt|jailbreak)\b`), false, []string{"dan", "do anything", "jailbr", "gpt", "nofilter", "aim", "stan"}},
	{"no_restrictions", 0.5, regexp.MustCompile(
		`\b(no|without( any)?|free from|freed from( all)?|zero|any)\s+((content|safety|ethical|moral)\s+)?(restrictions?|limitations|limits|filters|filtering|rules|guidelines|constraints|censorship|content polic(y|ies)|safety (filters|guidelines|checks|measures)|moral considerations|refusals?|ethics)\b`), false, []string{"restriction", "limitation", "limits", "filter", "rules", "guideline", "constraint", "censor", "polic", "moral", "refus", "ethic"}},
	{"no_restrictions", 0.5, regexp.MustCompile(
		`\b(unrestricted|uncensored|unfiltered|never (declines?|refuses?)|comply with (any|all|every)|without (refusal|exception))\b`), false, []string{"unrestricted", "uncensored", "unfiltered", "never", "comply", "without"}},
	{"persona_switch", 0.25, regexp.MustCompile(
		`\b(you are now|you're now|act as|pretend (to be|you are)|roleplay as|role-play as|simulate being|you will now|you are no longer|enter character|respond as|play the role of)\b`), false, []string{"you are", "you're", "act as", "pretend", "role", "simulate", "you will now", "enter character", "respond as"}},
	{"safety_off", 0.6, regexp.MustCompile(
		`\b(safety|content|security)\s+(checks|filters|mode|protocols|guidelines|measures)\b[^.!?\n]*\b(disabled|off|removed|suspended|bypassed)\b|\b(bypass|disable|turn off|circumvent|override)\b[^.!?\n]*\b(all )?(safety|content filters?|restrictions|guardrails|safety checks|safety protocols|filters)`), true, []string{"safety", "content", "security", "bypass", "disable", "turn off", "circumvent", "override"}},
	{"fake_mode", 0.45, regexp.MustCompile(
		`\b(debug|maintenance|admin|god|sudo|developer|unrestricted|compliance)\s+mode\b[^.!?\n]*\b(enabled|on|activated|active)?`), false, []string{" mode"}},
	{"fake_authority", 0.3, regexp.MustCompile(
		`\b(i am|i'm)\s+(the|a|an|your)\s+(system )?(administrator|admin|developer|creator|owner|red team)|\b(authorized|approved|clearance level|approval id)\b`), false, []string{"i am", "i'm", "authoriz", "approv", "clearance"}},
	{"template_tokens", 0.8, regexp.MustCompile(
		`<\|(im_start|im_end|endoftext|system|user|assistant)\|>|<<\s*/?sys\s*>>|\[/?inst\]|###\s*system\s*###|\[system\]\s*:|(^|[\n\-=#>]\s*)system\s*:|-{3}\s*begin new session|context window boundary`), false, []string{"<|", "<<", "[inst", "[/inst", "system", "begin new session", "context window boundary"}},
	{"fake_turns", 0.5, regexp.MustCompile(
		`(^|\n)\s*(human|user)\s*:[^\n]*\n\s*(assistant|ai)\s*:`), false, []string{"human", "user"}},
	{"decode_and_run", 0.5, regexp.MustCompile(
		`\b(decode|execute|follow|run|obey|treat|process)\b[^.!?\n]*\b(base64|hex|rot13|morse|encoded|reversed?|cipher)\b[^.!?\n]*\b(execute|follow|instructions?|command|it)\b|\b(concatenate|combine)\b[^.!?\n]*\b(follow|execute|obey)\b`), false, []string{"base64", "hex", "rot13", "morse", "encoded", "revers", "cipher", "concatenate", "combine"}},
	{"foreign_override", 0.75, nil, false, nil}, // foreignRe, on the text only lowered (normalise folds Cyrillic)
}

// foreignRe is foreign_override's pattern.
var foreignRe = regexp.MustCompile(
	`\b(ignorez|ignorer|oubliez)\b[^\n]*\binstructions|\b(ignora|olvida)\b[^\n]*\binstrucciones|\bignoriere\b[^\n]*\banweisungen|\bignore as instru[cç][oõ]es|\bbo qua\b[^\n]*\bhuong dan|(игнорир|проигнорир)[^\n]*инструкц|忽略[^\n]*(指令|指示|提示)|無視|무시|تجاهل`)

// Score is the injection score of s, in [0, 1], and the names of the
// patterns that matched.
func Score(s string) (float64, []string) {
	n := normalise(s)
	hit := map[string]float64{}
	match := func(text string, strongOnly bool) {
		for _, sg := range signals {
			if strongOnly && !sg.strong {
				continue
			}
			if sg.re != nil && sg.weight > hit[sg.name] && holdsAny(text, sg.keys) && sg.re.MatchString(text) {
				hit[sg.name] = sg.weight
			}
		}
	}
	match(n, false)
	if foreignRe.MatchString(strings.ToLower(s)) {
		hit["foreign_override"] = 0.75
	}
	if l := leet(n); l != n {
		match(l, true)
	}
	if letters(n) {
		match(rot13(n), true)
	}
	if decoded := base64Blobs(s); decoded != "" {
		before := len(hit)
		match(normalise(decoded), false)
		if len(hit) > before {
			hit["encoded_payload"] = 0.3
		}
	}
	if len(hit) == 0 {
		return 0, nil
	}
	keep := 1.0
	names := make([]string, 0, len(hit))
	for _, sg := range signals { // in a stable order
		if w, ok := hit[sg.name]; ok && !contains(names, sg.name) {
			keep *= 1 - w
			names = append(names, sg.name)
		}
	}
	if w, ok := hit["encoded_payload"]; ok {
		keep *= 1 - w
		names = append(names, "encoded_payload")
	}
	score := 1 - keep
	if aboutAttacks.MatchString(n) {
		// A question about attacks names them without making one.
		score *= 0.7
		names = append(names, "about_attacks")
	}
	return math.Round(score*1000) / 1000, names
}

// aboutAttacks is a question about attacks rather than one: it opens
// with a question word and names attacks or jailbreaks.
var aboutAttacks = regexp.MustCompile(`^\s*(what|how|why|can you explain|explain|describe|compare)\b[^\n]*\b(attacks?|attackers|jailbreak(s|ing)?|injections?|research(ers)?|studying)\b`)

func holdsAny(s string, keys []string) bool {
	for _, k := range keys {
		if strings.Contains(s, k) {
			return true
		}
	}
	return false
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// homoglyphs maps look-alike letters of other scripts to Latin ones.
var homoglyphs = map[rune]rune{
	'а': 'a', 'е': 'e', 'о': 'o', 'р': 'p', 'с': 'c', 'х': 'x', 'у': 'y', 'і': 'i', 'ѕ': 's', 'ј': 'j',
	'А': 'a', 'Е': 'e', 'О': 'o', 'Р': 'p', 'С': 'c', 'Х': 'x', 'І': 'i', 'Ѕ': 's', 'Ⅰ': 'i', 'ı': 'i',
}

// normalise lowers s and folds away the usual evasions: full-width and
// mathematical letters, look-alike Cyrillic letters, zero-width and
// combining characters, odd spaces.
func normalise(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range s {
		switch {
		case r >= 0xFF01 && r <= 0xFF5E: // full-width ASCII
			r -= 0xFEE0
		case r >= 0x1D400 && r <= 0x1D6A3: // mathematical alphanumerics
			r = mathLetter(r)
		case r >= 0x24B6 && r <= 0x24CF: // circled capitals
			r = 'a' + (r - 0x24B6)
		case r >= 0x24D0 && r <= 0x24E9: // circled small letters
			r = 'a' + (r - 0x24D0)
		}
		if h, ok := homoglyphs[r]; ok {
			r = h
		}
		switch {
		case r == 0x200B || r == 0x200C || r == 0x200D || r == 0x2060 || r == 0xFEFF || r == 0x00AD:
			continue // zero-width
		case unicode.Is(unicode.Mn, r):
			continue // combining marks
		case r == '\n':
			b.WriteByte('\n')
			space = false
			continue
		case unicode.IsSpace(r) || r == 0x2800:
			if !space {
				b.WriteByte(' ')
			}
			space = true
			continue
		}
		space = false
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// mathLetter maps a mathematical alphanumeric letter (bold, italic,
// double-struck, …: runs of 52 letters) to ASCII.
func mathLetter(r rune) rune {
	i := (r - 0x1D400) % 52
	if i < 26 {
		return 'a' + i
	}
	return 'a' + i - 26
}

var leetMap = strings.NewReplacer("1", "i", "3", "e", "4", "a", "0", "o", "5", "s", "7", "t", "@", "a", "$", "s")

// leet reads s as leetspeak, when it mixes digits into words.
func leet(s string) string {
	if !strings.ContainsAny(s, "013457@$") {
		return s
	}
	return leetMap.Replace(s)
}

// letters reports whether s is mostly ASCII letters (worth a ROT13
// reading).
func letters(s string) bool {
	n, l := 0, 0
	for _, r := range s {
		n++
		if r >= 'a' && r <= 'z' {
			l++
		}
	}
	return n >= 20 && l*10 >= n*7
}

func rot13(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return 'a' + (r-'a'+13)%26
		case r >= 'A' && r <= 'Z':
			return 'A' + (r-'A'+13)%26
		}
		return r
	}, s)
}

// base64Blobs returns the decoded text of the base64 blobs of s (runs of
// at least 24 base64 characters) that decode to printable text, joined by
// new lines; "" when there are none. It looks at 8 blobs at most.
func base64Blobs(s string) string {
	var out []string
	blobs := 0
	for i := 0; i < len(s) && blobs < 8; {
		if !isBase64(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) && isBase64(s[j]) {
			j++
		}
		if j-i >= 24 {
			blobs++
			if raw, err := base64.StdEncoding.DecodeString(padded(s[i:j])); err == nil && printable(raw) {
				out = append(out, string(raw))
			}
		}
		i = j
	}
	return strings.Join(out, "\n")
}

func isBase64(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '='
}

func padded(b string) string {
	b = strings.TrimRight(b, "=")
	if m := len(b) % 4; m != 0 {
		b += strings.Repeat("=", 4-m)
	}
	return b
}

func printable(b []byte) bool {
	if !utf8.Valid(b) || len(b) == 0 {
		return false
	}
	n := 0
	for _, r := range string(b) {
		if unicode.IsPrint(r) || unicode.IsSpace(r) {
			n++
		}
	}
	return n*10 >= utf8.RuneCount(b)*9
}
