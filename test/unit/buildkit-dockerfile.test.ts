// The images a Dockerfile names, read as BuildKit's Dockerfile frontend reads them
// (src/policy/buildkit/dockerfile.ts): stages, ARG expansion, flags, directives, continuations,
// heredocs, ONBUILD, and what cannot be resolved.

import { describe, expect, it } from "vitest";
import { dockerfileImages } from "../../src/policy/buildkit/dockerfile.js";

function names(text: string, args: Record<string, string> = {}): string[] {
  return dockerfileImages(text, new Map(Object.entries(args))).images.map((i) => `${i.line} ${i.form} ${i.name}`);
}

function problems(text: string, args: Record<string, string> = {}): string[] {
  return dockerfileImages(text, new Map(Object.entries(args))).problems.map((p) => `${p.line} ${p.detail}`);
}

describe("Dockerfile image references", () => {
  it("FROM images, not scratch and not earlier stages; COPY --from and RUN --mount from", () => {
    const df = [
      "FROM alpine:3.20 AS base",
      "FROM base",
      "FROM scratch",
      "COPY --from=base /a /a",
      "COPY --from=0 /a /b",
      "COPY --from=busybox:1.36 /bin/sh /sh",
      "RUN --mount=type=bind,from=golang:1.22,target=/go true",
      "RUN --mount=type=cache,target=/c --mount=from=BASE,target=/x true",
      "from Later",
      "FROM Base AS later",
    ].join("\n");
    expect(names(df)).toEqual(["1 FROM alpine:3.20", "6 COPY --from busybox:1.36", "7 RUN --mount from golang:1.22", "9 FROM Later", "10 FROM Base"]);
    expect(problems(df)).toEqual([]);
  });

  it("expands global ARGs with their defaults, overridden by build args; stage ARGs do not count", () => {
    const df = [
      "ARG REG=docker.io",
      "ARG TAG=3.20 IMG=${REG}/library/alpine",
      "ARG OPT",
      "FROM ${IMG}:${TAG}",
      "ARG LATE=x",
      'FROM "$REG/library/busybox:${OPT:-1.36}"',
      "FROM ${LATE}",
    ].join("\n");
    expect(names(df)).toEqual(["4 FROM docker.io/library/alpine:3.20", "6 FROM docker.io/library/busybox:1.36"]);
    expect(names(df, { TAG: "edge", OPT: "musl" })).toEqual(["4 FROM docker.io/library/alpine:edge", "6 FROM docker.io/library/busybox:musl"]);
    expect(problems(df)).toEqual(['7 FROM "${LATE}" cannot be resolved: variable LATE is not declared before the first FROM (ARG LATE=...)']);
  });

  it("refuses what it cannot resolve: platform variables, unevaluated substitutions, variables in --from", () => {
    const df = [
      "ARG V",
      "FROM --platform=$BUILDPLATFORM golang:1.22 AS build",
      "FROM alpine:${TARGETARCH}",
      "FROM alpine:${V-3}",
      "FROM alpine:${V#x}",
      "FROM $(echo)",
      "COPY --from=$X /a /a",
      "RUN --mount=from=${X},target=/x true",
    ].join("\n");
    expect(names(df)).toEqual(["2 FROM golang:1.22"]);
    expect(problems(df)).toEqual([
      '3 FROM "alpine:${TARGETARCH}" cannot be resolved: variable TARGETARCH is set by the daemon (its value is not known here)',
      '4 FROM "alpine:${V-3}" cannot be resolved: ${V-...} differs between BuildKit versions for ARG V declared without a value',
      '5 FROM "alpine:${V#x}" cannot be resolved: the substitution ${V#...} is not one dockgate evaluates',
      '6 FROM "$(echo)" is not an image reference dockgate reads',
      '7 COPY --from="$X": BuildKit does not expand variables there',
      '8 RUN --mount from="${X}": BuildKit does not expand variables there',
    ]);
  });

  it("line continuations, comments inside them, the escape directive", () => {
    expect(names(["FROM \\", "  # a comment", "", "  alpine:3.20", "COPY \\", "--from=busybox /a /a"].join("\n"))).toEqual(["1 FROM alpine:3.20", "5 COPY --from busybox"]);
    expect(names(["# escape=`", "FROM `", "  alpine", "COPY --from=busy`box /a \\", "FROM nginx"].join("\n"))).toEqual(["2 FROM alpine", "4 COPY --from busybox", "5 FROM nginx"]);
    // After the first non-directive line, `# escape=` is a comment.
    expect(names(["FROM alpine", "# escape=`", "COPY --from=busybox /a `", "FROM nginx"].join("\n"))).toEqual(["1 FROM alpine", "3 COPY --from busybox", "4 FROM nginx"]);
  });

  it("heredocs: both readings (a heredoc body is instructions to BuildKit 0.8)", () => {
    const df = ["FROM alpine", "RUN <<EOF", "FROM evil", "EOF", "COPY <<-'END' /x", "\tCOPY --from=evil2 /a /a", "\tEND", "FROM nginx"].join("\n");
    expect(names(df)).toEqual(["1 FROM alpine", "8 FROM nginx", "3 FROM evil", "6 COPY --from evil2"]);
    // A stage defined in a heredoc body (an instruction only to BuildKit 0.8) does not hide an image from the current reading.
    expect(names(["FROM a AS base", "RUN <<EOF", "FROM x AS evil", "EOF", "FROM evil"].join("\n"))).toEqual(["1 FROM a", "5 FROM evil", "3 FROM x"]);
    expect(problems('FROM a\nRUN <<"E F"\nx\nE F\n')).toEqual(['2 the heredoc "<<\\"E F\\"" has a name dockgate does not read']);
  });

  it("reads whitespace as Go does: NEL and NBSP are spaces, flags are split on bytes", () => {
    // strings.TrimSpace strips U+0085: this is FROM evil to BuildKit.
    expect(names("FROM a\n\u0085FROM evil\n")).toEqual(["1 FROM a", "2 FROM evil"]);
    // extractBuilderFlags ends a word at byte 0xA0, the second byte of "à" (C3 A0): a second flag.
    expect(names("FROM a\nCOPY --chown=xà--from=evil /a /b\n")).toEqual(["1 FROM a", "2 COPY --from evil"]);
    // Go's regexp \s has no NBSP: not an escape directive, so "\" continues the line, not "`".
    expect(names("#escape\u00A0=\u00A0`\nFROM a\nRUN x `\nFROM evil\n")).toEqual(["2 FROM a", "4 FROM evil"]);
  });

  it("ONBUILD triggers name images whatever this file's stages are", () => {
    const df = ["FROM alpine AS tools", "ONBUILD COPY --from=tools /a /a", "ONBUILD RUN --mount=from=busybox,target=/b true", "ONBUILD COPY --from=1 /a /a"].join("\n");
    expect(names(df)).toEqual(["1 FROM alpine", "2 ONBUILD COPY --from tools", "3 ONBUILD RUN --mount from busybox"]);
  });

  it("quoted mount specs are read as CSV; unreadable ones are problems", () => {
    expect(names('FROM a\nRUN --mount="type=bind,from=b,target=/x" --mount=type=bind,"from=c",target=/y true')).toEqual(["1 FROM a", "2 RUN --mount from b", "2 RUN --mount from c"]);
    expect(problems("FROM a\nRUN --mount='type=bind,fr\"om=b' true")).toEqual(['2 RUN --mount="type=bind,fr\\"om=b" is not a mount spec dockgate reads']);
  });
});
