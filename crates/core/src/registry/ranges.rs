//! Address ranges of inetnum, inet6num, route and route6 objects, answering RIPE's range
//! queries for any range, CIDR-aligned or not (`192.0.2.10 - 192.0.2.37`): exact, one-less,
//! all-less, one-more, all-more and most-specific, with no linear scan.
//!
//! The structure is a nested containment list (Alekseyenko and Lee, 2007): ranges sorted by
//! start (longer first), each stored under the innermost range that contains it, so every
//! level is a list of ranges none of which contains another; in such a list both starts and
//! ends increase, and the ranges containing (or inside) a query are one run found by two
//! binary searches. Equal ranges (a route with several origins) share one node.
//! IPv4 and IPv6 live in separate indexes; a range is two `u128`s, inclusive.
//!
//! [`RangeIndexBuf::build`] lays the nodes out as three flat arrays (bounds, links, ids)
//! that a registry file stores as they are; [`RangeIndex`] reads them in place, from memory
//! or a mapped file. Reading never trusts the arrays: an index out of bounds reads as
//! empty, a child always sits after its parent, and a query visits at most as many levels
//! as there are nodes (a tree never needs more), so a damaged file cannot loop or panic.

use std::ops::Range;

/// An inclusive range of addresses (IPv4 in the low 32 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span {
    pub start: u128,
    pub end: u128,
}

impl Span {
    pub fn new(start: u128, end: u128) -> Option<Span> {
        (start <= end).then_some(Span { start, end })
    }

    pub fn contains(&self, other: &Span) -> bool {
        self.start <= other.start && other.end <= self.end
    }

    /// Addresses in the range, minus one (so the whole IPv6 space fits).
    fn width(&self) -> u128 {
        self.end - self.start
    }
}

/// Values per node in [`RangeIndex::links`]: ids from, ids to, children from, children to.
const LINKS: usize = 4;

/// One node as read: its range, the objects with exactly that range (`ids[ids]`), and the
/// ranges directly inside it (`nodes[children]`).
#[derive(Debug, Clone)]
struct Node {
    span: Span,
    ids: Range<u32>,
    children: Range<u32>,
}

/// An index built in memory, in the layout a registry file stores.
#[derive(Debug, Clone, Default)]
pub struct RangeIndexBuf {
    /// Two per node: start, end.
    pub bounds: Vec<u128>,
    /// [`LINKS`] per node.
    pub links: Vec<u32>,
    pub ids: Vec<u32>,
    /// Nodes `0..top` are the outermost level.
    pub top: u32,
}

/// One index, read in place: query from any thread.
#[derive(Debug, Clone, Copy, Default)]
pub struct RangeIndex<'a> {
    bounds: &'a [u128],
    links: &'a [u32],
    ids: &'a [u32],
    top: u32,
}

/// A range found and the objects that have it.
pub type Found<'a> = (Span, &'a [u32]);

impl RangeIndexBuf {
    /// From (range, object id) pairs, in any order; an id may appear with several ranges.
    pub fn build(items: impl IntoIterator<Item = (Span, u32)>) -> RangeIndexBuf {
        let mut items: Vec<(Span, u32)> = items.into_iter().collect();
        // Start ascending, longer first, so a range comes after every range containing it.
        items.sort_unstable_by(|a, b| {
            (a.0.start, std::cmp::Reverse(a.0.end), a.1).cmp(&(
                b.0.start,
                std::cmp::Reverse(b.0.end),
                b.1,
            ))
        });
        // Distinct spans in that order, with their ids.
        let mut spans: Vec<(Span, Range<u32>)> = Vec::new();
        let mut ids = Vec::with_capacity(items.len());
        for (span, id) in items {
            match spans.last_mut() {
                Some((last, range)) if *last == span => range.end += 1,
                _ => {
                    let at = ids.len() as u32;
                    spans.push((span, at..at + 1));
                }
            }
            ids.push(id);
        }
        // Parent of each span: the innermost earlier span that contains it (a stack of the
        // open containers, innermost on top).
        let mut parent: Vec<Option<u32>> = Vec::with_capacity(spans.len());
        let mut stack: Vec<u32> = Vec::new();
        for (i, (span, _)) in spans.iter().enumerate() {
            while let Some(&top) = stack.last() {
                if spans[top as usize].0.contains(span) {
                    break;
                }
                stack.pop();
            }
            parent.push(stack.last().copied());
            stack.push(i as u32);
        }
        // Lay the nodes out level by level (breadth first) so each node's children are
        // contiguous, stay in start order, and come after their parent.
        let mut children: Vec<Vec<u32>> = vec![Vec::new(); spans.len()];
        let mut roots = Vec::new();
        for (i, p) in parent.iter().enumerate() {
            match p {
                Some(p) => children[*p as usize].push(i as u32),
                None => roots.push(i as u32),
            }
        }
        let mut position = vec![0u32; spans.len()];
        let mut queue: Vec<u32> = roots.clone();
        let mut head = 0;
        while head < queue.len() {
            let i = queue[head] as usize;
            position[i] = head as u32;
            head += 1;
            queue.extend_from_slice(&children[i]);
        }
        let mut out = RangeIndexBuf {
            bounds: Vec::with_capacity(2 * spans.len()),
            links: Vec::with_capacity(LINKS * spans.len()),
            ids,
            top: roots.len() as u32,
        };
        for &i in &queue {
            let i = i as usize;
            let first = children[i].first().map_or(0, |&c| position[c as usize]);
            out.bounds.extend([spans[i].0.start, spans[i].0.end]);
            out.links.extend([
                spans[i].1.start,
                spans[i].1.end,
                first,
                first + children[i].len() as u32,
            ]);
        }
        out
    }

    pub fn view(&self) -> RangeIndex<'_> {
        RangeIndex {
            bounds: &self.bounds,
            links: &self.links,
            ids: &self.ids,
            top: self.top,
        }
    }
}

impl<'a> RangeIndex<'a> {
    /// An index over arrays a file holds (see [`RangeIndexBuf`]).
    pub fn from_parts(bounds: &'a [u128], links: &'a [u32], ids: &'a [u32], top: u32) -> Self {
        RangeIndex {
            bounds,
            links,
            ids,
            top,
        }
    }

    pub fn len(&self) -> usize {
        (self.bounds.len() / 2).min(self.links.len() / LINKS)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Node `i`, or `None` past the end. Ranges that point outside the arrays, or children
    /// that do not come after their parent, read as empty.
    fn node(&self, i: u32) -> Option<Node> {
        let at = i as usize;
        if at >= self.len() {
            return None;
        }
        let span = Span::new(self.bounds[2 * at], self.bounds[2 * at + 1])?;
        let link = &self.links[LINKS * at..LINKS * at + LINKS];
        let ids = if link[0] <= link[1] && (link[1] as usize) <= self.ids.len() {
            link[0]..link[1]
        } else {
            0..0
        };
        let children = if i < link[2] && link[2] <= link[3] && (link[3] as usize) <= self.len() {
            link[2]..link[3]
        } else {
            0..0
        };
        Some(Node {
            span,
            ids,
            children,
        })
    }

    /// The nodes of one level, in order.
    fn level(&self, range: Range<u32>) -> impl Iterator<Item = Node> + '_ {
        range.filter_map(move |i| self.node(i))
    }

    /// The first position in `range` whose node does not satisfy `pred` (a level is sorted
    /// so `pred` holds for a prefix of it).
    fn partition(&self, range: Range<u32>, pred: impl Fn(&Span) -> bool) -> u32 {
        let (mut lo, mut hi) = (range.start, range.end);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.node(mid) {
                Some(node) if pred(&node.span) => lo = mid + 1,
                _ => hi = mid,
            }
        }
        lo
    }

    fn found(&self, node: &Node) -> Found<'a> {
        (
            node.span,
            &self.ids[node.ids.start as usize..node.ids.end as usize],
        )
    }

    fn top(&self) -> Range<u32> {
        0..self.top.min(self.len() as u32)
    }

    /// The objects whose range is exactly `q`.
    pub fn exact(&self, q: Span) -> &'a [u32] {
        self.containing(q)
            .into_iter()
            .find(|(span, _)| *span == q)
            .map_or(&[], |(_, ids)| ids)
    }

    /// Every range that contains `q`, `q` itself included, outermost first.
    pub fn containing(&self, q: Span) -> Vec<Found<'a>> {
        let mut out = Vec::new();
        let mut levels = vec![self.top()];
        let mut budget = self.len() + 1;
        while let Some(range) = levels.pop() {
            if !spend(&mut budget) {
                break;
            }
            // Starts and ends both increase along a level: the containers are one run.
            let hi = self.partition(range.clone(), |s| s.start <= q.start);
            let lo = self.partition(range.start..hi, |s| s.end < q.end);
            for node in self.level(lo..hi) {
                out.push(self.found(&node));
                levels.push(node.children);
            }
        }
        out.sort_by_key(|(span, _)| std::cmp::Reverse(span.width()));
        out
    }

    /// all-less: every range that contains `q`, not `q` itself, outermost first.
    pub fn all_less(&self, q: Span) -> Vec<Found<'a>> {
        let mut all = self.containing(q);
        all.retain(|(span, _)| *span != q);
        all
    }

    /// one-less: the smallest range that contains `q`, not `q` itself.
    pub fn one_less(&self, q: Span) -> Option<Found<'a>> {
        self.all_less(q).pop()
    }

    /// The smallest range that contains `q`, `q` itself included (what an address lookup
    /// answers: the object, never its parent, when the range exists).
    pub fn most_specific(&self, q: Span) -> Option<Found<'a>> {
        self.containing(q).pop()
    }

    /// all-more: every range inside `q`, not `q` itself, in start order.
    pub fn all_more(&self, q: Span) -> Vec<Found<'a>> {
        self.inside(q, false)
    }

    /// one-more: the ranges inside `q` that no other range inside `q` contains.
    pub fn one_more(&self, q: Span) -> Vec<Found<'a>> {
        self.inside(q, true)
    }

    fn inside(&self, q: Span, outermost_only: bool) -> Vec<Found<'a>> {
        let mut out: Vec<Found<'a>> = Vec::new();
        let mut levels = vec![self.top()];
        let mut budget = self.len() + 1;
        while let Some(range) = levels.pop() {
            if !spend(&mut budget) {
                break;
            }
            // Ranges that overlap q at all: start <= q.end and end >= q.start.
            let from = self.partition(range.clone(), |s| s.end < q.start);
            let to = self.partition(range.clone(), |s| s.start <= q.end);
            for node in self.level(from..to.max(from)) {
                if node.span == q {
                    // The query's own range: not an answer, but what it holds is.
                    levels.push(node.children);
                } else if q.contains(&node.span) {
                    out.push(self.found(&node));
                    if !outermost_only {
                        self.subtree(&node, &mut out, &mut budget);
                    }
                } else {
                    // Overlaps q without being inside it: some of its descendants may be.
                    levels.push(node.children);
                }
            }
        }
        out.sort_by_key(|(span, _)| (span.start, std::cmp::Reverse(span.end)));
        if outermost_only {
            // Where ranges overlap without nesting, a range found below one overlapping
            // range can sit inside a range found beside it.
            let spans: Vec<Span> = out.iter().map(|(s, _)| *s).collect();
            out.retain(|(span, _)| !spans.iter().any(|o| o != span && o.contains(span)));
        }
        out
    }

    fn subtree(&self, node: &Node, out: &mut Vec<Found<'a>>, budget: &mut usize) {
        let mut levels = vec![node.children.clone()];
        while let Some(range) = levels.pop() {
            if !spend(budget) {
                break;
            }
            for child in self.level(range) {
                out.push(self.found(&child));
                levels.push(child.children);
            }
        }
    }
}
/// Count one level visited; false once more levels were visited than a tree of the
/// index's nodes has (only a damaged file gets there).
fn spend(budget: &mut usize) -> bool {
    match budget.checked_sub(1) {
        Some(left) => {
            *budget = left;
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn v4(a: &str, b: &str) -> Span {
        let n = |s: &str| u32::from(s.parse::<std::net::Ipv4Addr>().unwrap()) as u128;
        Span::new(n(a), n(b)).unwrap()
    }

    fn spans(found: &[Found<'_>]) -> Vec<Span> {
        found.iter().map(|(s, _)| *s).collect()
    }

    #[test]
    fn a_registry_hierarchy_with_unaligned_ranges() {
        let all = v4("192.0.2.0", "192.0.2.255");
        let odd = v4("192.0.2.10", "192.0.2.37");
        let inner = v4("192.0.2.16", "192.0.2.31");
        let other = v4("192.0.2.128", "192.0.2.191");
        let buf = RangeIndexBuf::build([(all, 1), (odd, 2), (inner, 3), (other, 4), (inner, 5)]);
        let index = buf.view();
        assert_eq!(index.len(), 4, "equal ranges share a node");
        assert_eq!(index.exact(inner), &[3, 5]);
        assert_eq!(index.exact(v4("192.0.2.16", "192.0.2.30")), &[] as &[u32]);
        assert_eq!(spans(&index.all_less(inner)), [all, odd]);
        assert_eq!(index.one_less(inner).unwrap().0, odd);
        assert_eq!(
            index.most_specific(inner).unwrap().0,
            inner,
            "never the parent"
        );
        let one = v4("192.0.2.20", "192.0.2.20");
        assert_eq!(index.most_specific(one).unwrap().0, inner);
        assert_eq!(spans(&index.all_more(all)), [odd, inner, other]);
        assert_eq!(spans(&index.one_more(all)), [odd, other]);
        assert_eq!(spans(&index.one_more(odd)), [inner]);
        assert!(index.all_more(inner).is_empty());
        assert!(index.one_less(all).is_none());
        // A query that exists nowhere still has parents and children.
        let between = v4("192.0.2.8", "192.0.2.40");
        assert_eq!(spans(&index.one_more(between)), [odd]);
        assert_eq!(index.one_less(between).unwrap().0, all);
        // IPv6-sized numbers.
        let whole = Span::new(0, u128::MAX).unwrap();
        let v6 = RangeIndexBuf::build([
            (whole, 9),
            (Span::new(1 << 120, (2 << 120) - 1).unwrap(), 10),
        ]);
        let v6 = v6.view();
        assert_eq!(
            v6.one_less(Span::new(3 << 119, 3 << 119).unwrap())
                .unwrap()
                .1,
            &[10]
        );
        assert_eq!(spans(&v6.one_more(whole)).len(), 1);
        assert!(RangeIndexBuf::build([]).view().containing(whole).is_empty());
    }

    /// Ranges as a registry holds them: CIDR prefixes (nested or disjoint) mixed with
    /// arbitrary ranges (which may overlap without nesting).
    fn ranges() -> impl Strategy<Value = Vec<Span>> {
        let prefix = (0u128..256, 0u32..=8).prop_map(|(base, len)| {
            let size = 1u128 << (8 - len);
            let start = base / size * size;
            Span::new(start, start + size - 1).unwrap()
        });
        let any =
            (0u128..256, 0u128..256).prop_map(|(a, b)| Span::new(a.min(b), a.max(b)).unwrap());
        proptest::collection::vec(prop_oneof![3 => prefix, 1 => any], 0..60)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]
        #[test]
        fn every_query_agrees_with_a_scan(items in ranges(), a in 0u128..256, b in 0u128..256) {
            let q = Span::new(a.min(b), a.max(b)).unwrap();
            let buf = RangeIndexBuf::build(items.iter().enumerate().map(|(i, s)| (*s, i as u32)));
            let index = buf.view();
            let mut distinct: Vec<Span> = items.clone();
            distinct.sort();
            distinct.dedup();
            let sorted = |mut v: Vec<Span>| { v.sort(); v };
            let containing: Vec<Span> = distinct.iter().copied().filter(|s| s.contains(&q)).collect();
            prop_assert_eq!(sorted(spans(&index.containing(q))), containing.clone());
            let inside: Vec<Span> = distinct.iter().copied().filter(|s| q.contains(s) && *s != q).collect();
            prop_assert_eq!(sorted(spans(&index.all_more(q))), inside.clone());
            let outermost: Vec<Span> = inside.iter().copied()
                .filter(|s| !inside.iter().any(|o| o != s && o.contains(s))).collect();
            prop_assert_eq!(sorted(spans(&index.one_more(q))), outermost);
            let mut exact: Vec<u32> = items.iter().enumerate()
                .filter(|(_, s)| **s == q).map(|(i, _)| i as u32).collect();
            exact.sort();
            let mut got = index.exact(q).to_vec();
            got.sort();
            prop_assert_eq!(got, exact);
            // one-less is a smallest strict container.
            let strict: Vec<Span> = containing.iter().copied().filter(|s| *s != q).collect();
            match index.one_less(q) {
                None => prop_assert!(strict.is_empty()),
                Some((s, _)) => prop_assert!(strict.iter().all(|o| o.width() >= s.width())),
            }
        }
    }
}
