// parseGoJson / foldKey / goEqualFold against the real thing: Go's encoding/json, built with the
// local `go` toolchain (Debian bookworm's golang-go is go1.19.8, the same Go that dockerd 20.10.24
// is built with). Skipped when no `go` is on PATH; nothing else in the suite needs Go.
//
// Checks:
//  1. Field matching, every code point: for each rune r, Go decodes {"r": ...} into a struct with
//     fields tagged A..Z and a few non-ASCII names; whichever field Go picks, goEqualFold must agree
//     (exactly, for the ASCII names Docker uses) and foldKey must fold r and the name equal.
//  2. Values: for hand-written and randomly mutated documents, whatever parseGoJson accepts Go's
//     json.Unmarshal accepts too, with the same value; whatever Go rejects, parseGoJson rejects.
//  3. Why duplicates are refused: Go merges a repeated struct key into the same field.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GoJsonError, GoObject, foldKey, goEqualFold, parseGoJson, type GoValue } from '../../src/policy/gojson.js';


const NON_ASCII_TAGS = ['ǅ', 'σ', 'ß', 'µ', 'å', 'θ', 'ΐ', 'ﬆ', 'İ', 'ı', 'ꭰ', 'ṡ', 'ι', 'в'];
const ASCII_TAGS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ'.split('');

const GO_SOURCE = String.raw`package main

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"runtime"
	"unicode/utf8"
)

type Fields struct {
${[...ASCII_TAGS, ...NON_ASCII_TAGS].map((t, i) => `\tF${i} string \`json:"${t}"\``).join('\n')}
}

type HostConfig struct {
	Privileged bool
	CapAdd     []string
}
type Create struct {
	Image      string
	HostConfig *HostConfig
}

func main() {
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	switch os.Args[1] {
	case "version":
		fmt.Fprintln(w, runtime.Version())
	case "fold":
		// For every rune, which field does {"<rune>":"x"} land in?
		t := reflect.TypeOf(Fields{})
		for r := rune(0); r <= utf8.MaxRune; r++ {
			if r >= 0xD800 && r <= 0xDFFF || r == '"' || r == '\\' || r < 0x20 {
				continue
			}
			var f Fields
			key, _ := json.Marshal(string(r))
			if err := json.Unmarshal([]byte("{"+string(key)+":\"x\"}"), &f); err != nil {
				fmt.Fprintf(w, "%d error\n", r)
				continue
			}
			v := reflect.ValueOf(f)
			for i := 0; i < v.NumField(); i++ {
				if v.Field(i).String() == "x" {
					fmt.Fprintf(w, "%d %s\n", r, t.Field(i).Tag.Get("json"))
				}
			}
		}
	case "values":
		sc := bufio.NewScanner(os.Stdin)
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		for sc.Scan() {
			in, err := base64.StdEncoding.DecodeString(sc.Text())
			if err != nil {
				panic(err)
			}
			var v interface{}
			if err := json.Unmarshal(in, &v); err != nil {
				fmt.Fprintln(w, "err")
				continue
			}
			out, err := json.Marshal(v)
			if err != nil {
				fmt.Fprintln(w, "err")
				continue
			}
			fmt.Fprintln(w, "ok "+base64.StdEncoding.EncodeToString(out))
		}
	case "merge":
		var c Create
		err := json.Unmarshal([]byte(os.Args[2]), &c)
		out, _ := json.Marshal(c)
		fmt.Fprintln(w, string(out), err)
	}
}
`;

let dir = '';
let bin = '';

function run(args: string[], input?: string): string {
  const r = spawnSync(bin, args, { input, encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`go helper failed: ${r.stderr}`);
  return r.stdout;
}

function plain(v: GoValue): unknown {
  if (Array.isArray(v)) return v.map(plain);
  if (v instanceof GoObject) {
    const o: Record<string, unknown> = {};
    for (const [k, val] of v.entries()) Object.defineProperty(o, k, { value: plain(val), enumerable: true });
    return o;
  }
  return v;
}

// Go 1.19 (Debian's golang-go, the Go dockerd 20.10 is built with) is part of the test setup:
// .ci/run installs it. Without it this suite fails rather than skips.
describe('gojson against Go encoding/json', () => {
  beforeAll(() => {
    const go = spawnSync('go', ['version'], { encoding: 'utf8' });
    if (go.status !== 0) throw new Error('the Go toolchain is required (apt-get install golang-go; bash .ci/run installs it)');
    dir = mkdtempSync(join(tmpdir(), 'gojson-go-'));
    writeFileSync(join(dir, 'main.go'), GO_SOURCE);
    bin = join(dir, 'helper');
    const r = spawnSync('go', ['build', '-o', bin, 'main.go'], {
      cwd: dir,
      encoding: 'utf8',
      env: { ...process.env, GOCACHE: join(dir, 'cache'), GOPATH: join(dir, 'gopath'), GOFLAGS: '' },
    });
    if (r.status !== 0) throw new Error(`go build failed: ${r.stderr}`);
    console.log(`[gojson-go] comparing against ${run(['version']).trim()}`);
  }, 300_000);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('field matching: goEqualFold and foldKey agree with Go for every rune', () => {
    const goMatches = new Map<number, string[]>();
    for (const line of run(['fold']).split('\n')) {
      if (!line) continue;
      const [cp, tag] = line.split(' ') as [string, string];
      expect(tag).not.toBe('error');
      const list = goMatches.get(Number(cp)) ?? [];
      list.push(tag);
      goMatches.set(Number(cp), list);
    }
    const problems: string[] = [];
    const extra: string[] = [];
    const hex = (c: number): string => `U+${c.toString(16).toUpperCase().padStart(4, '0')}`;
    // Runes Go matched to something, plus every cased rune (anything else can only match itself).
    const cased = /[\p{CWCF}\p{CWCM}]/u;
    const candidates = new Set<number>(goMatches.keys());
    for (let c = 0x80; c <= 0x10ffff; c++) {
      if ((c < 0xd800 || c > 0xdfff) && cased.test(String.fromCodePoint(c))) candidates.add(c);
    }
    for (const c of candidates) {
      const key = String.fromCodePoint(c);
      const go = goMatches.get(c) ?? [];
      if (go.length > 1) problems.push(`${hex(c)}: Go matched several fields ${go.join(',')}`);
      for (const tag of [...ASCII_TAGS, ...NON_ASCII_TAGS]) {
        const ours = goEqualFold(key, tag);
        const theirs = go.includes(tag);
        if (theirs && !ours) problems.push(`${hex(c)} -> ${tag}: Go matches, goEqualFold does not`);
        if (theirs && foldKey(key) !== foldKey(tag)) problems.push(`${hex(c)} -> ${tag}: Go matches, foldKey differs`);
        if (ours && !theirs) {
          // Only allowed for non-ASCII names, where newer Unicode tables (JS) know more pairs.
          if (ASCII_TAGS.includes(tag)) problems.push(`${hex(c)} -> ${tag}: goEqualFold matches, Go does not`);
          else extra.push(`${hex(c)}->${tag}`);
        }
      }
    }
    if (extra.length) console.log(`[gojson-go] matches newer than this Go's Unicode tables: ${extra.join(' ')}`);
    expect(problems).toEqual([]);
    // The facts everything rests on:
    expect(goMatches.get(0x17f)).toEqual(['S']);
    expect(goMatches.get(0x212a)).toEqual(['K']);
    expect(goMatches.get(0x131)).toEqual(['ı']);
    expect(goMatches.get(0x130)).toEqual(['İ']);
  }, 300_000);

  it('values: what parseGoJson accepts, Go decodes identically; what Go rejects, parseGoJson rejects', () => {
    const enc = new TextEncoder();
    const corpus: Uint8Array[] = [
      '{"a":1}', '[1,2.5,-0,1e5,1E-7,"x"]', '"\\ud83d\\ude00"', '"\\ud800"', '"\\udc00\\ud800"', '"\\ud800\\u0041"',
      '{"a":1,}', '[1,]', '01', '1.', '.5', '+1', '1e400', '-1e400', '1e-400', '9007199254740993', '{} {}', '{}x',
      ' {} ', '\f{}', 'nul', '"\\x"', '"a\tb"', '"\u007f"', '{"a":{"b":[{"c":null}]}}', '"\\/"', '[]', '{}', '""',
      '{"Privileged":false,"privileged":true}', '"\u2028"', '"é€😀"', '[' .repeat(150) + ']'.repeat(150),
    ].map((s) => enc.encode(s));
    const raw = [[0xef, 0xbb, 0xbf, 0x7b, 0x7d], [0x22, 0x80, 0x22], [0x22, 0xc0, 0xaf, 0x22], [0x22, 0xed, 0xa0, 0x80, 0x22],
      [0x22, 0xf4, 0x90, 0x80, 0x80, 0x22], [0x22, 0xe2, 0x82, 0x22], [0x22, 0xf0, 0x9f, 0x98, 0x80, 0x22], [0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]];
    for (const r of raw) corpus.push(new Uint8Array(r));
    // Random documents with random byte edits.
    let seed = 99;
    const rnd = (): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const alphabet = enc.encode('{}[]",:\\/ \t\n0123456789-+.eEtrufalsnu\u00e9');
    const base = enc.encode(JSON.stringify({ Image: 'alpine', Cmd: ['sh', '-c', 'x\u00e9'], HostConfig: { Privileged: false, Memory: 1e9, Binds: [] }, Env: null }));
    for (let n = 0; n < 4000; n++) {
      const b = new Uint8Array(base);
      const edits = 1 + Math.floor(rnd() * 3);
      for (let e = 0; e < edits; e++) {
        b[Math.floor(rnd() * b.length)] = rnd() < 0.15 ? Math.floor(rnd() * 256) : alphabet[Math.floor(rnd() * alphabet.length)]!;
      }
      corpus.push(b);
    }
    const lines = run(['values'], corpus.map((b) => Buffer.from(b).toString('base64')).join('\n') + '\n').split('\n');
    let bothOk = 0;
    let weStricter = 0;
    const problems: string[] = [];
    corpus.forEach((b, i) => {
      const go = lines[i]!;
      let ours: GoValue | undefined;
      try {
        ours = parseGoJson(b);
      } catch (e) {
        if (!(e instanceof GoJsonError)) throw e;
      }
      const show = JSON.stringify(Buffer.from(b).toString('latin1'));
      if (ours === undefined) {
        if (go.startsWith('ok')) weStricter++;
        return;
      }
      if (!go.startsWith('ok ')) {
        problems.push(`accepted but Go rejects: ${show}`);
        return;
      }
      bothOk++;
      const goValue: unknown = JSON.parse(Buffer.from(go.slice(3), 'base64').toString('utf8'));
      try {
        expect(plain(ours)).toEqual(goValue);
      } catch {
        problems.push(`different value: ${show}`);
      }
    });
    console.log(`[gojson-go] ${corpus.length} docs: ${bothOk} accepted by both, ${weStricter} only by Go (dups, U+FFFD repairs, trailing data...)`);
    expect(problems).toEqual([]);
    expect(bothOk).toBeGreaterThan(100);
  }, 300_000);

  it('Go merges a repeated (folded) struct key into the same field — the reason duplicates are refused', () => {
    const out = run(['merge', '{"HostConfig":{"Privileged":true},"hostconfig":{"CapAdd":["ALL"]}}']);
    expect(out).toContain('"Privileged":true');
    expect(out).toContain('"CapAdd":["ALL"]');
    // A scalar field takes the last of several folded keys, whoever spelled it.
    expect(run(['merge', '{"Image":"alpine","image":"evil"}'])).toContain('"Image":"evil"');
    expect(() => parseGoJson(enc('{"HostConfig":{"Privileged":true},"hostconfig":{}}'))).toThrow(/duplicate key/);
  });
});

function enc(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}
