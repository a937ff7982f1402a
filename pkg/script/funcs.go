package script

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"text/template/parse"
)

// The builtin functions, with text/template's argument rules and results.

var (
	errBadComparisonType = errors.New("invalid type for comparison")
	errNoComparison      = errors.New("missing argument for comparison")
)

// tmplArity is each builtin's fixed argument count and whether it takes more.
var tmplArity = map[string]struct {
	n        int
	variadic bool
}{
	"and": {1, true}, "or": {1, true}, "not": {1, false},
	"eq": {1, true}, "ne": {2, false}, "lt": {2, false}, "le": {2, false}, "gt": {2, false}, "ge": {2, false},
	"index": {1, true}, "slice": {1, true}, "len": {1, false},
	"print": {0, true}, "printf": {1, true}, "println": {0, true}, "urlquery": {0, true},
}

func (s *tmplState) evalFunction(dot any, node *parse.IdentifierNode, cmd parse.Node, args []parse.Node, final any) any {
	s.at(node)
	name := node.Ident
	ar, ok := tmplArity[name]
	if !ok {
		s.fail(fmt.Errorf("function %q: %w", name, ErrUnsupported))
	}
	if args != nil {
		args = args[1:] // args[0] is the function's own name
	}
	numIn := len(args)
	if !isMissing(final) {
		numIn++
	}
	if ar.variadic && numIn < ar.n {
		s.errorf("wrong number of args for %s: want at least %d got %d", name, ar.n, len(args))
	} else if !ar.variadic && numIn != ar.n {
		s.errorf("wrong number of args for %s: want %d got %d", name, ar.n, numIn)
	}

	if name == "and" || name == "or" {
		// Short-circuit: the first false (and) or true (or) argument is the result.
		var v any
		for _, a := range args {
			v = s.evalArg(dot, a)
			if t, _ := tmplTruth(v); t == (name == "or") {
				return v
			}
		}
		if !isMissing(final) {
			v = final
		}
		return v
	}

	argv := make([]any, 0, numIn)
	if name == "printf" {
		if len(args) > 0 {
			argv = append(argv, s.stringArg(dot, args[0]))
			args = args[1:]
		} else {
			argv = append(argv, s.stringValue(final))
			final = tmplMissing{}
		}
	}
	for _, a := range args {
		argv = append(argv, s.evalArg(dot, a))
	}
	if !isMissing(final) {
		argv = append(argv, final)
	}
	v, err := s.call(name, argv)
	if err != nil {
		s.at(cmd)
		s.errorf("error calling %s: %w", name, err)
	}
	return v
}

// stringArg evaluates printf's format, which text/template requires to be a string.
func (s *tmplState) stringArg(dot any, n parse.Node) string {
	s.at(n)
	switch a := n.(type) {
	case *parse.StringNode:
		return a.Text
	case *parse.NilNode:
		s.errorf("cannot assign nil to string")
	case *parse.BoolNode, *parse.NumberNode:
		s.errorf("expected string; found %s", n)
	}
	return s.stringValue(s.evalArg(dot, n))
}

func (s *tmplState) stringValue(v any) string {
	switch v := v.(type) {
	case nil:
		s.errorf("invalid value; expected string")
	case string:
		return v
	}
	s.errorf("wrong type for value; expected string; got %T", v)
	return ""
}

func (s *tmplState) call(name string, a []any) (any, error) {
	switch name {
	case "not":
		t, _ := tmplTruth(a[0])
		return !t, nil
	case "eq":
		return tmplEq(a[0], a[1:]...)
	case "ne":
		eq, err := tmplEq(a[0], a[1])
		return !eq, err
	case "lt":
		return tmplLt(a[0], a[1])
	case "le":
		return tmplLe(a[0], a[1])
	case "gt":
		le, err := tmplLe(a[0], a[1])
		return !le && err == nil, err
	case "ge":
		lt, err := tmplLt(a[0], a[1])
		return !lt && err == nil, err
	case "index":
		return tmplIndex(a[0], a[1:])
	case "slice":
		return tmplSlice(a[0], a[1:])
	case "len":
		switch v := a[0].(type) {
		case string:
			return len(v), nil
		case map[string]string:
			return len(v), nil
		case []string:
			return len(v), nil
		case nil:
			return nil, errors.New("len of nil")
		}
		return nil, fmt.Errorf("len of type %T", a[0])
	case "print":
		return s.produce(fmt.Sprint(a...)), nil
	case "println":
		return s.produce(fmt.Sprintln(a...)), nil
	case "printf":
		return s.produce(fmt.Sprintf(a[0].(string), a[1:]...)), nil
	case "urlquery":
		return s.produce(url.QueryEscape(tmplArgsString(a))), nil
	}
	return nil, fmt.Errorf("%s: %w", name, ErrUnsupported)
}

func (s *tmplState) produce(str string) string {
	s.produced(len(str))
	return str
}

// tmplArgsString is text/template's evalArgs: fmt.Sprint, with nothing printed as
// "<no value>".
func tmplArgsString(a []any) string {
	if len(a) == 1 {
		if s, ok := a[0].(string); ok {
			return s
		}
	}
	for i, v := range a {
		if v == nil {
			a[i] = tmplNoValue
		}
	}
	return fmt.Sprint(a...)
}

// tmplTruth is text/template's notion of truth: not the zero value of its type. ok is false
// for values that have none.
func tmplTruth(v any) (truth, ok bool) {
	switch v := v.(type) {
	case nil:
		return false, true
	case Data:
		return true, true
	case map[string]string:
		return len(v) > 0, true
	case []string:
		return len(v) > 0, true
	}
	k, b := tmplBasic(v)
	switch k {
	case kindBool:
		return b.b, true
	case kindString:
		return len(b.s) > 0, true
	case kindInt:
		return b.i != 0, true
	case kindUint:
		return b.u != 0, true
	case kindFloat:
		return b.f != 0, true
	case kindComplex:
		return b.c != 0, true
	}
	return false, false
}

type tmplKind int

const (
	kindInvalid tmplKind = iota
	kindBool
	kindComplex
	kindInt
	kindFloat
	kindString
	kindUint
)

type basicVal struct {
	b bool
	i int64
	u uint64
	f float64
	c complex128
	s string
}

// tmplBasic classifies v like text/template's basicKind.
func tmplBasic(v any) (tmplKind, basicVal) {
	switch v := v.(type) {
	case bool:
		return kindBool, basicVal{b: v}
	case int:
		return kindInt, basicVal{i: int64(v)}
	case int8:
		return kindInt, basicVal{i: int64(v)}
	case int16:
		return kindInt, basicVal{i: int64(v)}
	case int32:
		return kindInt, basicVal{i: int64(v)}
	case int64:
		return kindInt, basicVal{i: v}
	case uint:
		return kindUint, basicVal{u: uint64(v)}
	case uint8:
		return kindUint, basicVal{u: uint64(v)}
	case uint16:
		return kindUint, basicVal{u: uint64(v)}
	case uint32:
		return kindUint, basicVal{u: uint64(v)}
	case uint64:
		return kindUint, basicVal{u: v}
	case float32:
		return kindFloat, basicVal{f: float64(v)}
	case float64:
		return kindFloat, basicVal{f: v}
	case complex64:
		return kindComplex, basicVal{c: complex128(v)}
	case complex128:
		return kindComplex, basicVal{c: v}
	case string:
		return kindString, basicVal{s: v}
	}
	return kindInvalid, basicVal{}
}

// tmplNil reports whether v is nothing or a nil map or slice (eq may compare those with nil;
// no other composite value here is comparable).
func tmplNil(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case map[string]string:
		return v == nil
	case []string:
		return v == nil
	}
	return false
}

// compositeKind tells the non-basic values apart for eq's "same kind or nil" rule.
func compositeKind(v any) int {
	switch v.(type) {
	case nil:
		return 0
	case map[string]string:
		return 1
	case []string:
		return 2
	}
	return 3 // Data: a struct
}

func tmplEq(a1 any, rest ...any) (bool, error) {
	if len(rest) == 0 {
		return false, errNoComparison
	}
	k1, b1 := tmplBasic(a1)
	for _, a := range rest {
		k2, b2 := tmplBasic(a)
		truth := false
		if k1 != k2 {
			switch {
			case k1 == kindInt && k2 == kindUint:
				truth = b1.i >= 0 && uint64(b1.i) == b2.u
			case k1 == kindUint && k2 == kindInt:
				truth = b2.i >= 0 && b1.u == uint64(b2.i)
			default:
				if a1 != nil && a != nil {
					return false, fmt.Errorf("incompatible types for comparison: %T and %T", a1, a)
				}
			}
		} else {
			switch k1 {
			case kindBool:
				truth = b1.b == b2.b
			case kindComplex:
				truth = b1.c == b2.c
			case kindFloat:
				truth = b1.f == b2.f
			case kindInt:
				truth = b1.i == b2.i
			case kindString:
				truth = b1.s == b2.s
			case kindUint:
				truth = b1.u == b2.u
			default:
				c1, c2 := compositeKind(a1), compositeKind(a)
				if c1 != c2 && c1 != 0 && c2 != 0 {
					return false, fmt.Errorf("non-comparable types %s: %T, %T: %v", a1, a1, a, a)
				}
				if tmplNil(a1) || tmplNil(a) {
					truth = tmplNil(a1) == tmplNil(a)
				} else {
					return false, fmt.Errorf("non-comparable type %s: %T", a, a)
				}
			}
		}
		if truth {
			return true, nil
		}
	}
	return false, nil
}

func tmplLt(a1, a2 any) (bool, error) {
	k1, b1 := tmplBasic(a1)
	if k1 == kindInvalid {
		return false, errBadComparisonType
	}
	k2, b2 := tmplBasic(a2)
	if k2 == kindInvalid {
		return false, errBadComparisonType
	}
	if k1 != k2 {
		switch {
		case k1 == kindInt && k2 == kindUint:
			return b1.i < 0 || uint64(b1.i) < b2.u, nil
		case k1 == kindUint && k2 == kindInt:
			return b2.i >= 0 && b1.u < uint64(b2.i), nil
		}
		return false, fmt.Errorf("incompatible types for comparison: %T and %T", a1, a2)
	}
	switch k1 {
	case kindFloat:
		return b1.f < b2.f, nil
	case kindInt:
		return b1.i < b2.i, nil
	case kindString:
		return b1.s < b2.s, nil
	case kindUint:
		return b1.u < b2.u, nil
	}
	return false, errBadComparisonType
}

func tmplLe(a1, a2 any) (bool, error) {
	lt, err := tmplLt(a1, a2)
	if lt || err != nil {
		return lt, err
	}
	return tmplEq(a1, a2)
}

// tmplIndexArg is text/template's indexArg: an integer in [0, cap].
func tmplIndexArg(v any, cap int) (int, error) {
	k, b := tmplBasic(v)
	var x int64
	switch k {
	case kindInt:
		x = b.i
	case kindUint:
		x = int64(b.u)
	default:
		if v == nil {
			return 0, errors.New("cannot index slice/array with nil")
		}
		return 0, fmt.Errorf("cannot index slice/array with type %T", v)
	}
	if x < 0 || int(x) < 0 || int(x) > cap {
		return 0, fmt.Errorf("index out of range: %d", x)
	}
	return int(x), nil
}

func tmplIndex(item any, idx []any) (any, error) {
	if item == nil {
		return nil, errors.New("index of untyped nil")
	}
	for _, ix := range idx {
		switch it := item.(type) {
		case string:
			x, err := tmplIndexArg(ix, len(it))
			if err != nil {
				return nil, err
			}
			if x == len(it) {
				return nil, fmt.Errorf("index out of range: %d", x)
			}
			item = it[x]
		case []string:
			x, err := tmplIndexArg(ix, len(it))
			if err != nil {
				return nil, err
			}
			if x == len(it) {
				return nil, fmt.Errorf("index out of range: %d", x)
			}
			item = it[x]
		case map[string]string:
			key, ok := ix.(string)
			if !ok {
				if ix == nil {
					return nil, errors.New("value is nil; should be of type string")
				}
				return nil, fmt.Errorf("value has type %T; should be string", ix)
			}
			item = it[key]
		default:
			return nil, fmt.Errorf("can't index item of type %T", item)
		}
	}
	return item, nil
}

func tmplSlice(item any, idx []any) (any, error) {
	if item == nil {
		return nil, errors.New("slice of untyped nil")
	}
	if len(idx) > 3 {
		return nil, fmt.Errorf("too many slice indexes: %d", len(idx))
	}
	var length, cap int
	switch it := item.(type) {
	case string:
		if len(idx) == 3 {
			return nil, errors.New("cannot 3-index slice a string")
		}
		length, cap = len(it), len(it)
	case []string:
		length, cap = len(it), len(it)
	default:
		return nil, fmt.Errorf("can't slice item of type %T", item)
	}
	x := [3]int{0, length, cap}
	for i, ix := range idx {
		n, err := tmplIndexArg(ix, cap)
		if err != nil {
			return nil, err
		}
		x[i] = n
	}
	if x[0] > x[1] {
		return nil, fmt.Errorf("invalid slice index: %d > %d", x[0], x[1])
	}
	if len(idx) == 3 && x[1] > x[2] {
		return nil, fmt.Errorf("invalid slice index: %d > %d", x[1], x[2])
	}
	switch it := item.(type) {
	case string:
		return it[x[0]:x[1]], nil
	case []string:
		return it[x[0]:x[1]:x[2]], nil
	}
	return nil, nil
}

// tmplIntRange reports whether v is an integer range {{range 5}} can count to, and to what.
func tmplIntRange(v any) (int64, bool) {
	k, b := tmplBasic(v)
	switch k {
	case kindInt:
		return b.i, true
	case kindUint:
		if b.u > 1<<62 {
			return 1 << 62, true
		}
		return int64(b.u), true
	}
	return 0, false
}

// sameIntType converts i to v's integer type, as range over an integer yields.
func sameIntType(v any, i int64) any {
	switch v.(type) {
	case int8:
		return int8(i)
	case int16:
		return int16(i)
	case int32:
		return int32(i)
	case int64:
		return i
	case uint:
		return uint(i)
	case uint8:
		return uint8(i)
	case uint16:
		return uint16(i)
	case uint32:
		return uint32(i)
	case uint64:
		return uint64(i)
	}
	return int(i)
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
