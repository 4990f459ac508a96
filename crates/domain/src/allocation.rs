//! Where an order's units come from: one pure, deterministic function of the
//! order's lines, the locations and what each has available. Its result is
//! recorded in `OrderConfirmed`, so a replay never decides again.

use std::collections::{BTreeMap, BTreeSet};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::location::Site;
use crate::{LocationCode, Quantity, Sku};

/// How lines are spread over locations (`STOCKROOM_ALLOCATION`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    /// Walk locations by priority, then code.
    #[default]
    Priority,
    /// Take from the location with the most available first.
    MostAvailable,
    /// One location for the whole order when one can serve it, else as few
    /// as possible.
    FewestLocations,
}

impl Strategy {
    /// Every strategy as the setting spells it.
    pub const NAMES: [&'static str; 3] = ["priority", "most_available", "fewest_locations"];

    /// The setting's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Priority => "priority",
            Self::MostAvailable => "most_available",
            Self::FewestLocations => "fewest_locations",
        }
    }

    /// Parses the setting's spelling.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "priority" => Some(Self::Priority),
            "most_available" => Some(Self::MostAvailable),
            "fewest_locations" => Some(Self::FewestLocations),
            _ => None,
        }
    }
}

/// Units of one SKU taken from one location.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
pub struct Allocation {
    /// The SKU.
    pub sku: Sku,
    /// Where the units are reserved and shipped from.
    pub location: LocationCode,
    /// Units.
    pub quantity: Quantity,
}

/// One line as allocation sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Demand {
    /// The SKU.
    pub sku: Sku,
    /// Units.
    pub quantity: Quantity,
    /// The only location this line may come from, if pinned.
    pub pin: Option<LocationCode>,
}

/// What the order asks of allocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    /// The order's lines, in any order; lines of one SKU are summed.
    pub lines: &'a [Demand],
    /// Every line from here, never split.
    pub pickup: Option<&'a LocationCode>,
    /// The channel the order came through; only locations serving it count.
    pub channel: Option<&'a str>,
}

/// The first SKU (in SKU order) no set of locations can serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shortfall {
    /// The SKU.
    pub sku: Sku,
    /// Units the order needs of it (where it is pinned, there).
    pub requested: i64,
    /// Units available to this order where it may take them.
    pub available: i64,
}

/// Most (subsets × SKUs) `fewest_locations` checks exhaustively; beyond it
/// (many locations and many SKUs in one order) it searches greedily, so one
/// order never costs the reservation process more than a few milliseconds
/// while it holds stock locks.
const EXACT_SEARCH_MAX_WORK: u64 = 1 << 16;

/// Allocates every line or none. `available(sku, location)` is what the
/// location can give now; the result is sorted by SKU, then location, one
/// entry per pair. Ties are broken by priority, then code, every time.
pub fn allocate(
    strategy: Strategy,
    request: &Request<'_>,
    sites: &[Site],
    available: impl Fn(&Sku, &LocationCode) -> i64,
) -> Result<Vec<Allocation>, Shortfall> {
    let mut eligible: Vec<&Site> = sites.iter().filter(|s| s.serves(request.channel)).collect();
    eligible.sort_by(|a, b| (a.priority, &a.code).cmp(&(b.priority, &b.code)));
    let eligible_codes: BTreeSet<&LocationCode> = eligible.iter().map(|s| &s.code).collect();

    let (pinned, loose) = demands(request);
    let mut left: BTreeMap<(Sku, LocationCode), i64> = BTreeMap::new();
    let free = |sku: &Sku, at: &LocationCode, left: &mut BTreeMap<(Sku, LocationCode), i64>| {
        *left
            .entry((sku.clone(), at.clone()))
            .or_insert_with(|| available(sku, at).max(0))
    };
    let mut taken: BTreeMap<(Sku, LocationCode), i64> = BTreeMap::new();

    // Pins first: they have no choice, the rest does.
    let mut shortfalls = Vec::new();
    for ((sku, at), units) in &pinned {
        let can = if eligible_codes.contains(at) {
            free(sku, at, &mut left)
        } else {
            0
        };
        if can < *units {
            shortfalls.push(Shortfall {
                sku: sku.clone(),
                requested: *units,
                available: can,
            });
            continue;
        }
        left.insert((sku.clone(), at.clone()), can - units);
        *taken.entry((sku.clone(), at.clone())).or_default() += units;
    }

    for (sku, units) in &loose {
        for site in &eligible {
            free(sku, &site.code, &mut left);
        }
        let total: i64 = eligible
            .iter()
            .map(|s| left[&(sku.clone(), s.code.clone())])
            .sum();
        if total < *units {
            shortfalls.push(Shortfall {
                sku: sku.clone(),
                requested: *units,
                available: total,
            });
        }
    }
    if let Some(first) = shortfalls.into_iter().min_by(|a, b| a.sku.cmp(&b.sku)) {
        return Err(first);
    }

    let order_of_sites: Vec<&Site> = match strategy {
        Strategy::Priority | Strategy::MostAvailable => eligible.clone(),
        Strategy::FewestLocations => {
            let used: BTreeSet<&LocationCode> = taken.keys().map(|(_, at)| at).collect();
            fewest_sites(&eligible, &used, &loose, &left)
        }
    };
    for (sku, units) in &loose {
        let mut walk = order_of_sites.clone();
        if strategy == Strategy::MostAvailable {
            // Stable: equal availability keeps priority order.
            walk.sort_by_key(|s| std::cmp::Reverse(left[&(sku.clone(), s.code.clone())]));
        }
        let mut wanted = *units;
        for site in walk {
            if wanted == 0 {
                break;
            }
            let key = (sku.clone(), site.code.clone());
            let take = left[&key].min(wanted);
            if take > 0 {
                *left.get_mut(&key).expect("filled above") -= take;
                *taken.entry(key).or_default() += take;
                wanted -= take;
            }
        }
        debug_assert_eq!(wanted, 0, "the shortfall check guarantees enough");
    }

    Ok(taken
        .into_iter()
        .filter_map(|((sku, location), units)| {
            Quantity::new(units).ok().map(|quantity| Allocation {
                sku,
                location,
                quantity,
            })
        })
        .collect())
}

type Pinned = BTreeMap<(Sku, LocationCode), i64>;
type Loose = BTreeMap<Sku, i64>;

/// The order's units per SKU, pinned (to a line's location or the pickup
/// location) apart from free to go anywhere.
fn demands(request: &Request<'_>) -> (Pinned, Loose) {
    let mut pinned = Pinned::new();
    let mut loose = Loose::new();
    for line in request.lines {
        match request.pickup.or(line.pin.as_ref()) {
            Some(at) => {
                *pinned.entry((line.sku.clone(), at.clone())).or_default() += line.quantity.get()
            }
            None => *loose.entry(line.sku.clone()).or_default() += line.quantity.get(),
        }
    }
    (pinned, loose)
}

/// The smallest set of eligible locations, counting those pins already use,
/// that can serve every loose SKU; among sets of one size the first in
/// priority order. Returned in priority order.
fn fewest_sites<'s>(
    eligible: &[&'s Site],
    used: &BTreeSet<&LocationCode>,
    loose: &Loose,
    left: &BTreeMap<(Sku, LocationCode), i64>,
) -> Vec<&'s Site> {
    let serves = |set: &[&Site]| {
        loose.iter().all(|(sku, units)| {
            set.iter()
                .map(|s| left[&(sku.clone(), s.code.clone())])
                .sum::<i64>()
                >= *units
        })
    };
    let (already, others): (Vec<&Site>, Vec<&Site>) =
        eligible.iter().partition(|s| used.contains(&s.code));
    if serves(&already) {
        return already;
    }
    let subsets = 1u64.checked_shl(others.len() as u32).unwrap_or(u64::MAX);
    if subsets.saturating_mul(loose.len().max(1) as u64) <= EXACT_SEARCH_MAX_WORK {
        for size in 1..=others.len() {
            if let Some(extra) = first_subset(&others, size, &mut |extra| {
                let mut set = already.clone();
                set.extend_from_slice(extra);
                serves(&set)
            }) {
                return in_priority_order(eligible, &already, &extra);
            }
        }
    }
    // Greedy: add the location that covers most of what is still missing.
    let mut chosen = already.clone();
    let mut rest = others;
    while !serves(&chosen) && !rest.is_empty() {
        let missing = |sku: &Sku, units: i64, set: &[&Site]| {
            let have: i64 = set
                .iter()
                .map(|s| left[&(sku.clone(), s.code.clone())])
                .sum();
            (units - have).max(0)
        };
        let best = rest
            .iter()
            .enumerate()
            .max_by_key(|(i, site)| {
                let gain: i64 = loose
                    .iter()
                    .map(|(sku, units)| {
                        missing(sku, *units, &chosen).min(left[&(sku.clone(), site.code.clone())])
                    })
                    .sum();
                (gain, std::cmp::Reverse(*i))
            })
            .map(|(i, _)| i)
            .expect("rest is not empty");
        chosen.push(rest.remove(best));
    }
    in_priority_order(eligible, &chosen, &[])
}

fn in_priority_order<'s>(eligible: &[&'s Site], a: &[&Site], b: &[&Site]) -> Vec<&'s Site> {
    eligible
        .iter()
        .filter(|s| a.iter().chain(b).any(|x| x.code == s.code))
        .copied()
        .collect()
}

/// The first `size`-subset of `items` (lexicographic by index) that `ok`
/// accepts.
fn first_subset<'s>(
    items: &[&'s Site],
    size: usize,
    ok: &mut impl FnMut(&[&'s Site]) -> bool,
) -> Option<Vec<&'s Site>> {
    let mut picks: Vec<usize> = (0..size).collect();
    loop {
        let set: Vec<&Site> = picks.iter().map(|&i| items[i]).collect();
        if ok(&set) {
            return Some(set);
        }
        // Next combination.
        let mut i = size;
        loop {
            if i == 0 {
                return None;
            }
            i -= 1;
            if picks[i] < items.len() - size + i {
                break;
            }
        }
        picks[i] += 1;
        for j in i + 1..size {
            picks[j] = picks[j - 1] + 1;
        }
    }
}

#[cfg(test)]
mod tests;
