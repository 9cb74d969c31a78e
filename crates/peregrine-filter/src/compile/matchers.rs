//! Precompiled right-hand sides: one [`Matcher`] per check, built once from the literals and
//! asked one question per extracted value.
//!
//! Like ripgrep's `GlobSet`, each list is sorted into the cheapest strategy that answers it:
//! hashed sets for `in`/`== anyof`, an Aho–Corasick automaton for `contains`/`startswith` over
//! many needles, a path trie for `pmatch` (literal components hashed, glob components tried only
//! where a pattern has one), and a regex only for `regex`.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, Anchored, Input, MatchKind, StartKind};
use memchr::memmem;
use rustc_hash::{FxHashMap, FxHashSet};
use std::net::IpAddr;

use crate::source::ValueRef;

/// An ordering or equality operator, after the type check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ord6 {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Ord6 {
    fn test(self, o: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            Ord6::Eq => o == Equal,
            Ord6::Ne => o != Equal,
            Ord6::Lt => o == Less,
            Ord6::Le => o != Greater,
            Ord6::Gt => o == Greater,
            Ord6::Ge => o != Less,
        }
    }
}

/// A number as the checks compare it: integers widened so signed and unsigned sources compare
/// exactly, doubles as themselves.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Num {
    I(i128),
    F(f64),
}

impl Num {
    pub(crate) fn of(v: ValueRef<'_>) -> Option<Num> {
        match v {
            ValueRef::Int(i) => Some(Num::I(i as i128)),
            ValueRef::UInt(u) => Some(Num::I(u as i128)),
            ValueRef::Double(d) => Some(Num::F(d)),
            ValueRef::Bool(b) => Some(Num::I(b as i128)),
            _ => None,
        }
    }

    fn cmp(self, other: Num) -> Option<std::cmp::Ordering> {
        match (self, other) {
            (Num::I(a), Num::I(b)) => Some(a.cmp(&b)),
            (a, b) => a.as_f64().partial_cmp(&b.as_f64()),
        }
    }

    fn as_f64(self) -> f64 {
        match self {
            Num::I(i) => i as f64,
            Num::F(f) => f,
        }
    }
}

/// An IP network: address and prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Net {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Net {
    /// Whether `ip` is inside the network; an address of the other family never is.
    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = prefix_mask32(self.prefix);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let p = self.prefix.min(128) as u32;
                let mask = if p == 0 { 0 } else { u128::MAX << (128 - p) };
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

fn prefix_mask32(prefix: u8) -> u32 {
    let p = prefix.min(32) as u32;
    if p == 0 {
        0
    } else {
        u32::MAX << (32 - p)
    }
}

/// The address a value carries, whether the source pushed it as an address or a network.
fn ip_of(v: ValueRef<'_>) -> Option<IpAddr> {
    match v {
        ValueRef::Ip(ip) | ValueRef::Net(ip, _) => Some(ip),
        _ => None,
    }
}

/// A set of byte strings with a length window that rejects most misses before hashing.
#[derive(Debug, Default)]
pub(crate) struct StrSet {
    set: FxHashSet<Box<[u8]>>,
    min: usize,
    max: usize,
}

impl StrSet {
    pub(crate) fn new(items: impl IntoIterator<Item = Box<[u8]>>) -> Self {
        let set: FxHashSet<Box<[u8]>> = items.into_iter().collect();
        let min = set.iter().map(|s| s.len()).min().unwrap_or(usize::MAX);
        let max = set.iter().map(|s| s.len()).max().unwrap_or(0);
        StrSet { set, min, max }
    }

    pub(crate) fn contains(&self, b: &[u8]) -> bool {
        b.len() >= self.min && b.len() <= self.max && self.set.contains(b)
    }
}

/// An address or a network, as `in (…)` lists over IP fields hold them.
#[derive(Clone, Copy, Debug)]
pub(crate) enum IpItem {
    Addr(IpAddr),
    Net(Net),
}

impl IpItem {
    fn matches(&self, ip: IpAddr) -> bool {
        match self {
            IpItem::Addr(a) => *a == ip,
            IpItem::Net(n) => n.contains(ip),
        }
    }
}

/// fnmatch(3) without flags (`*` also matches `/`), optionally ASCII case-insensitive.
#[derive(Debug, Clone)]
pub(crate) struct Glob {
    pat: Box<[u8]>,
    icase: bool,
}

impl Glob {
    pub(crate) fn new(pat: &[u8], icase: bool) -> Self {
        Glob {
            pat: pat.into(),
            icase,
        }
    }

    pub(crate) fn is_match(&self, s: &[u8]) -> bool {
        glob_match(&self.pat, s, self.icase)
    }

    /// Whether the pattern has no metacharacter, so equality answers it.
    pub(crate) fn is_literal(pat: &[u8]) -> bool {
        !pat.iter().any(|c| matches!(c, b'*' | b'?' | b'[' | b'\\'))
    }
}

fn eq_byte(a: u8, b: u8, icase: bool) -> bool {
    a == b || (icase && a.eq_ignore_ascii_case(&b))
}

/// Matches one pattern item at `p[pi]` against byte `c`: the index after the item if it
/// matches, `None` if it does not. A `[` without a closing `]` is a literal `[`.
fn glob_step(p: &[u8], pi: usize, c: u8, icase: bool) -> Option<usize> {
    match p[pi] {
        b'?' => Some(pi + 1),
        b'\\' if pi + 1 < p.len() => eq_byte(p[pi + 1], c, icase).then_some(pi + 2),
        b'[' => match glob_class(p, pi, c, icase) {
            Some((true, next)) => Some(next),
            Some((false, _)) => None,
            None => eq_byte(b'[', c, icase).then_some(pi + 1),
        },
        lit => eq_byte(lit, c, icase).then_some(pi + 1),
    }
}

/// Parses the bracket expression at `p[start] == '['`: whether `c` is in it and the index after
/// the closing `]`, or `None` if the bracket is not closed.
fn glob_class(p: &[u8], start: usize, c: u8, icase: bool) -> Option<(bool, usize)> {
    let mut i = start + 1;
    let negate = matches!(p.get(i), Some(b'!') | Some(b'^'));
    if negate {
        i += 1;
    }
    let mut found = false;
    let mut first = true;
    loop {
        let &lo = p.get(i)?;
        if lo == b']' && !first {
            return Some((found != negate, i + 1));
        }
        first = false;
        let (lo, next) = if lo == b'\\' {
            (*p.get(i + 1)?, i + 2)
        } else {
            (lo, i + 1)
        };
        if p.get(next) == Some(&b'-') && p.get(next + 1).is_some_and(|&h| h != b']') {
            let hi = p[next + 1];
            let in_range = |x: u8| lo <= x && x <= hi;
            if in_range(c)
                || (icase && (in_range(c.to_ascii_lowercase()) || in_range(c.to_ascii_uppercase())))
            {
                found = true;
            }
            i = next + 2;
        } else {
            if eq_byte(lo, c, icase) {
                found = true;
            }
            i = next;
        }
    }
}

/// Iterative wildcard matching with single-star backtracking (linear in practice).
pub(crate) fn glob_match(p: &[u8], s: &[u8], icase: bool) -> bool {
    let (mut pi, mut si) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() {
            if p[pi] == b'*' {
                star = Some((pi + 1, si));
                pi += 1;
                continue;
            }
            if let Some(next) = glob_step(p, pi, s[si], icase) {
                pi = next;
                si += 1;
                continue;
            }
        }
        match star {
            Some((sp, ss)) => {
                pi = sp;
                si = ss + 1;
                star = Some((sp, ss + 1));
            }
            None => return false,
        }
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len()
}

/// `pmatch`: a value matches when one of the patterns is a path prefix of it, component by
/// component; pattern components may be globs. Literal components are hashed, so a list of a
/// thousand directories costs one lookup per component of the value.
#[derive(Debug, Default)]
pub(crate) struct PathTrie {
    root: TrieNode,
}

#[derive(Debug, Default)]
struct TrieNode {
    /// A pattern ends here: everything below matches.
    terminal: bool,
    literal: FxHashMap<Box<[u8]>, TrieNode>,
    globs: Vec<(Glob, TrieNode)>,
}

fn components(path: &[u8]) -> impl Iterator<Item = &[u8]> {
    path.split(|&c| c == b'/')
}

impl PathTrie {
    pub(crate) fn insert(&mut self, pattern: &[u8]) {
        // "/a/b/" is the same prefix as "/a/b".
        let pattern = match pattern {
            [rest @ .., b'/'] if !rest.is_empty() => rest,
            p => p,
        };
        let mut node = &mut self.root;
        for comp in components(pattern) {
            node = if Glob::is_literal(comp) {
                node.literal.entry(comp.into()).or_default()
            } else {
                let pos = node
                    .globs
                    .iter()
                    .position(|(g, _)| &*g.pat == comp)
                    .unwrap_or_else(|| {
                        node.globs
                            .push((Glob::new(comp, false), TrieNode::default()));
                        node.globs.len() - 1
                    });
                &mut node.globs[pos].1
            };
        }
        node.terminal = true;
    }

    pub(crate) fn is_match(&self, path: &[u8]) -> bool {
        Self::walk(&self.root, Some(path))
    }

    /// `rest` is what is left of the path after the components already walked (`None` once
    /// the last component is consumed); splitting lazily keeps matching allocation-free.
    fn walk(node: &TrieNode, rest: Option<&[u8]>) -> bool {
        if node.terminal {
            return true;
        }
        let Some(p) = rest else {
            return false;
        };
        let (first, next) = match memchr::memchr(b'/', p) {
            Some(i) => (&p[..i], Some(&p[i + 1..])),
            None => (p, None),
        };
        if let Some(child) = node.literal.get(first) {
            if Self::walk(child, next) {
                return true;
            }
        }
        node.globs
            .iter()
            .any(|(g, child)| g.is_match(first) && Self::walk(child, next))
    }
}

/// What a multi-needle automaton answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AcMode {
    Contains,
    StartsWith,
}

/// A compiled right-hand side. `matches` is asked once per extracted value.
#[derive(Debug)]
pub(crate) enum Matcher {
    Num(Ord6, Num),
    Bool {
        rhs: bool,
        ne: bool,
    },
    BytesOrd(Ord6, Box<[u8]>),
    StartsWith(Box<[u8]>),
    EndsWith(Box<[u8]>),
    /// Boxed: a finder is ~300 bytes and most matchers are a few words.
    Contains(Box<memmem::Finder<'static>>),
    /// `icontains` with one needle, kept lower-cased: an automaton costs ~100 µs to build
    /// per check (most of a rules file's compile time went there) for no faster search on
    /// the short values rules look at.
    IContains(Box<[u8]>),
    /// `contains`/`startswith`/`icontains anyof` (many needles).
    Ac(AhoCorasick, AcMode),
    Glob(Glob),
    Regex(regex::bytes::Regex),
    Ip {
        rhs: IpAddr,
        ne: bool,
    },
    Net {
        net: Net,
        ne: bool,
    },
    StrSet {
        set: StrSet,
        negate: bool,
    },
    NumSet(Box<[Num]>),
    BoolSet {
        t: bool,
        f: bool,
    },
    IpSet(Box<[IpItem]>),
    PathPrefix(PathTrie),
    AnyOf(Box<[Matcher]>),
    AllOf(Box<[Matcher]>),
    OneOf(Box<[Matcher]>),
    /// An empty list under a modifier: libsinsp answers false.
    Never,
}

impl Matcher {
    pub(crate) fn contains(needle: &[u8]) -> Matcher {
        Matcher::Contains(Box::new(memmem::Finder::new(needle).into_owned()))
    }

    /// ASCII case-insensitive `contains` of one needle (non-ASCII bytes compare exactly, as
    /// in an ASCII-case-insensitive automaton).
    pub(crate) fn icontains(needle: &[u8]) -> Matcher {
        Matcher::IContains(needle.to_ascii_lowercase().into_boxed_slice())
    }

    /// Builds an automaton over `needles`; `None` only if the automaton is too large.
    pub(crate) fn ac(needles: &[Box<[u8]>], mode: AcMode, icase: bool) -> Option<Matcher> {
        let start = match mode {
            AcMode::Contains => StartKind::Unanchored,
            AcMode::StartsWith => StartKind::Anchored,
        };
        AhoCorasickBuilder::new()
            .ascii_case_insensitive(icase)
            .match_kind(MatchKind::Standard)
            .start_kind(start)
            .build(needles)
            .ok()
            .map(|ac| Matcher::Ac(ac, mode))
    }

    pub(crate) fn matches(&self, v: ValueRef<'_>) -> bool {
        match self {
            Matcher::Num(op, rhs) => Num::of(v)
                .and_then(|n| n.cmp(*rhs))
                .is_some_and(|o| op.test(o)),
            Matcher::Bool { rhs, ne } => match v {
                ValueRef::Bool(b) => (b == *rhs) != *ne,
                other => Num::of(other).is_some_and(|n| (n != Num::I(0)) == *rhs) != *ne,
            },
            Matcher::BytesOrd(op, rhs) => bytes(v).is_some_and(|b| op.test(b.cmp(rhs))),
            Matcher::StartsWith(rhs) => bytes(v).is_some_and(|b| b.starts_with(rhs)),
            Matcher::EndsWith(rhs) => bytes(v).is_some_and(|b| b.ends_with(rhs)),
            Matcher::Contains(f) => bytes(v).is_some_and(|b| f.find(b).is_some()),
            Matcher::IContains(needle) => bytes(v).is_some_and(|b| icontains(b, needle)),
            Matcher::Ac(ac, mode) => bytes(v).is_some_and(|b| match mode {
                AcMode::Contains => ac.is_match(b),
                AcMode::StartsWith => ac.is_match(Input::new(b).anchored(Anchored::Yes)),
            }),
            Matcher::Glob(g) => bytes(v).is_some_and(|b| g.is_match(b)),
            Matcher::Regex(re) => bytes(v).is_some_and(|b| re.is_match(b)),
            Matcher::Ip { rhs, ne } => ip_of(v).is_some_and(|ip| {
                // An address of the other family is neither equal nor different (libsinsp).
                rhs.is_ipv4() == ip.is_ipv4() && ((ip == *rhs) != *ne)
            }),
            Matcher::Net { net, ne } => ip_of(v)
                .is_some_and(|ip| net.addr.is_ipv4() == ip.is_ipv4() && (net.contains(ip) != *ne)),
            Matcher::StrSet { set, negate } => bytes(v).is_some_and(|b| set.contains(b) != *negate),
            Matcher::NumSet(set) => Num::of(v).is_some_and(|n| {
                set.iter()
                    .any(|m| n.cmp(*m) == Some(std::cmp::Ordering::Equal))
            }),
            Matcher::BoolSet { t, f } => match v {
                ValueRef::Bool(b) => (b && *t) || (!b && *f),
                other => Num::of(other).is_some_and(|n| {
                    let b = n != Num::I(0);
                    (b && *t) || (!b && *f)
                }),
            },
            Matcher::IpSet(items) => ip_of(v).is_some_and(|ip| items.iter().any(|i| i.matches(ip))),
            Matcher::PathPrefix(trie) => bytes(v).is_some_and(|b| trie.is_match(b)),
            Matcher::AnyOf(ms) => ms.iter().any(|m| m.matches(v)),
            Matcher::AllOf(ms) => ms.iter().all(|m| m.matches(v)),
            Matcher::OneOf(ms) => {
                let mut n = 0;
                for m in ms.iter() {
                    if m.matches(v) {
                        n += 1;
                        if n > 1 {
                            return false;
                        }
                    }
                }
                n == 1
            }
            Matcher::Never => false,
        }
    }
}

fn bytes(v: ValueRef<'_>) -> Option<&[u8]> {
    match v {
        ValueRef::Bytes(b) => Some(b),
        _ => None,
    }
}

/// Whether `hay` contains `lower` (already lower-cased) ignoring ASCII case: candidates are
/// found with `memchr2` on the first byte's two cases, then the rest is compared.
fn icontains(hay: &[u8], lower: &[u8]) -> bool {
    let Some((&first, rest)) = lower.split_first() else {
        return true;
    };
    let mut from = 0;
    while let Some(i) = memchr::memchr2(first, first.to_ascii_uppercase(), &hay[from..]) {
        let at = from + i;
        match hay.get(at + 1..at + lower.len()) {
            Some(tail) if tail.eq_ignore_ascii_case(rest) => return true,
            Some(_) => from = at + 1,
            None => return false,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icontains_agrees_with_a_case_insensitive_automaton() {
        let needles: &[&[u8]] = &[b"", b"a", b"Sh", b"/ETC/", b"x\xe9Y", b"passwd", b"aab"];
        let hays: &[&[u8]] = &[
            b"",
            b"a",
            b"A",
            b"bash -c ls",
            b"/etc/shadow",
            b"/Etc/Passwd",
            b"X\xe9y",
            b"x\xc9y",
            b"aaab",
            b"aa",
            b"PASSWD",
            b"passw",
        ];
        for n in needles {
            let ac = Matcher::ac(&[Box::from(*n)], AcMode::Contains, true).expect("small");
            let ours = Matcher::icontains(n);
            for h in hays {
                let v = ValueRef::Bytes(h);
                assert_eq!(ours.matches(v), ac.matches(v), "{n:?} in {h:?}");
            }
        }
    }

    #[test]
    fn glob_cases() {
        let cases: &[(&str, &str, bool, bool)] = &[
            ("/proc/*/environ", "/proc/12/environ", false, true),
            ("/proc/*/environ", "/proc/12/x/environ", false, true),
            ("/proc/*/environ", "/proc/12/maps", false, false),
            ("a?c", "abc", false, true),
            ("a?c", "ac", false, false),
            ("di[r]", "dir", false, true),
            ("di[!r]", "dir", false, false),
            ("di[^r]", "dix", false, true),
            ("[a-c]x", "bx", false, true),
            ("[a-c]x", "dx", false, false),
            ("[]]", "]", false, true),
            ("a[b", "a[b", false, true),
            ("\\*", "*", false, true),
            ("\\*", "a", false, false),
            ("*", "", false, true),
            ("JAVA*", "java8", true, true),
            ("JAVA*", "java8", false, false),
            ("*a*b*c", "xxaxxbxxc", false, true),
            ("*a*b*c", "xxaxxbxxcx", false, false),
        ];
        for (p, s, icase, want) in cases {
            assert_eq!(
                glob_match(p.as_bytes(), s.as_bytes(), *icase),
                *want,
                "{p} vs {s}"
            );
        }
    }

    #[test]
    fn net_contains() {
        let net = Net {
            addr: "10.0.0.0".parse().unwrap(),
            prefix: 8,
        };
        assert!(net.contains("10.1.2.3".parse().unwrap()));
        assert!(!net.contains("11.1.2.3".parse().unwrap()));
        assert!(!net.contains("::1".parse().unwrap()));
        let v6 = Net {
            addr: "fd00::".parse().unwrap(),
            prefix: 8,
        };
        assert!(v6.contains("fd12::1".parse().unwrap()));
        assert!(!v6.contains("fe80::1".parse().unwrap()));
    }
}
