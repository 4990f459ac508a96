use std::collections::BTreeMap;

use proptest::prelude::{any, prop, prop_assert, prop_assert_eq, prop_oneof, proptest, Just};
use proptest::strategy::Strategy as _;

use super::*;

fn code(raw: &str) -> LocationCode {
    LocationCode::parse(raw).unwrap()
}

fn sku(raw: &str) -> Sku {
    Sku::parse(raw).unwrap()
}

fn site(raw: &str, priority: i32) -> Site {
    Site {
        code: code(raw),
        name: raw.to_owned(),
        priority,
        channels: vec![],
        active: true,
    }
}

fn line(raw: &str, units: i64) -> Demand {
    Demand {
        sku: sku(raw),
        quantity: Quantity::new(units).unwrap(),
        pin: None,
    }
}

type Stock = BTreeMap<(&'static str, &'static str), i64>;

fn run(
    strategy: Strategy,
    lines: &[Demand],
    pickup: Option<&LocationCode>,
    sites: &[Site],
    stock: &Stock,
) -> Result<Vec<(String, String, i64)>, Shortfall> {
    let request = Request {
        lines,
        pickup,
        channel: Some("web"),
    };
    allocate(strategy, &request, sites, |s, at| {
        stock
            .iter()
            .find(|((k, l), _)| *k == s.as_str() && *l == at.as_str())
            .map_or(0, |(_, units)| *units)
    })
    .map(|all| {
        all.into_iter()
            .map(|a| (a.sku.to_string(), a.location.to_string(), a.quantity.get()))
            .collect()
    })
}

fn three_sites() -> Vec<Site> {
    vec![site("north", 10), site("south", 20), site("east", 30)]
}

fn t(sku: &str, at: &str, units: i64) -> (String, String, i64) {
    (sku.to_owned(), at.to_owned(), units)
}

#[test]
fn given_stock_at_three_locations_when_allocating_by_priority_then_the_first_fills_first() {
    let stock = Stock::from([(("A", "north"), 3), (("A", "south"), 5), (("A", "east"), 9)]);
    let got = run(
        Strategy::Priority,
        &[line("A", 6)],
        None,
        &three_sites(),
        &stock,
    )
    .unwrap();
    assert_eq!(got, vec![t("A", "north", 3), t("A", "south", 3)]);
}

#[test]
fn given_stock_at_three_locations_when_allocating_by_most_available_then_the_fullest_gives() {
    let stock = Stock::from([(("A", "north"), 3), (("A", "south"), 5), (("A", "east"), 9)]);
    let got = run(
        Strategy::MostAvailable,
        &[line("A", 6)],
        None,
        &three_sites(),
        &stock,
    )
    .unwrap();
    assert_eq!(got, vec![t("A", "east", 6)]);
}

#[test]
fn given_one_location_can_serve_the_whole_order_when_allocating_fewest_then_it_alone_does() {
    let stock = Stock::from([
        (("A", "north"), 5),
        (("B", "south"), 5),
        (("A", "east"), 2),
        (("B", "east"), 2),
    ]);
    let lines = [line("A", 2), line("B", 2)];
    let got = run(
        Strategy::FewestLocations,
        &lines,
        None,
        &three_sites(),
        &stock,
    )
    .unwrap();
    assert_eq!(got, vec![t("A", "east", 2), t("B", "east", 2)]);
    // By priority the same order takes two locations.
    let got = run(Strategy::Priority, &lines, None, &three_sites(), &stock).unwrap();
    assert_eq!(got, vec![t("A", "north", 2), t("B", "south", 2)]);
}

#[test]
fn lines_of_one_sku_are_summed_before_deciding() {
    let stock = Stock::from([(("A", "north"), 3), (("A", "south"), 3)]);
    let got = run(
        Strategy::Priority,
        &[line("A", 2), line("A", 2)],
        None,
        &three_sites(),
        &stock,
    )
    .unwrap();
    assert_eq!(got, vec![t("A", "north", 3), t("A", "south", 1)]);
    let short = run(
        Strategy::Priority,
        &[line("A", 4), line("A", 3)],
        None,
        &three_sites(),
        &stock,
    )
    .unwrap_err();
    assert_eq!((short.requested, short.available), (7, 6));
}

#[test]
fn a_pinned_line_comes_only_from_its_location_and_is_taken_before_the_rest() {
    let stock = Stock::from([(("A", "north"), 3), (("A", "south"), 3)]);
    let mut pinned = line("A", 2);
    pinned.pin = Some(code("south"));
    let got = run(
        Strategy::Priority,
        &[pinned.clone(), line("A", 4)],
        None,
        &three_sites(),
        &stock,
    )
    .unwrap();
    assert_eq!(got, vec![t("A", "north", 3), t("A", "south", 3)]);
    pinned.quantity = Quantity::new(4).unwrap();
    let short = run(Strategy::Priority, &[pinned], None, &three_sites(), &stock).unwrap_err();
    assert_eq!((short.requested, short.available), (4, 3));
}

#[test]
fn a_pickup_order_never_splits() {
    let stock = Stock::from([(("A", "north"), 3), (("A", "south"), 3)]);
    let at = code("south");
    let got = run(
        Strategy::Priority,
        &[line("A", 3)],
        Some(&at),
        &three_sites(),
        &stock,
    )
    .unwrap();
    assert_eq!(got, vec![t("A", "south", 3)]);
    let short = run(
        Strategy::Priority,
        &[line("A", 4)],
        Some(&at),
        &three_sites(),
        &stock,
    )
    .unwrap_err();
    assert_eq!(short.available, 3);
}

#[test]
fn inactive_locations_and_those_of_other_channels_never_give() {
    let stock = Stock::from([(("A", "north"), 3), (("A", "south"), 3), (("A", "east"), 3)]);
    let mut sites = three_sites();
    sites[0].active = false;
    sites[1].channels = vec!["pos".into()];
    let got = run(Strategy::Priority, &[line("A", 3)], None, &sites, &stock).unwrap();
    assert_eq!(got, vec![t("A", "east", 3)]);
    let short = run(Strategy::Priority, &[line("A", 4)], None, &sites, &stock).unwrap_err();
    assert_eq!(short.available, 3);
}

#[test]
fn the_shortfall_named_is_the_first_short_sku_in_sku_order() {
    let stock = Stock::from([(("A", "north"), 1), (("B", "north"), 1)]);
    let short = run(
        Strategy::Priority,
        &[line("C", 1), line("B", 2), line("A", 1)],
        None,
        &three_sites(),
        &stock,
    )
    .unwrap_err();
    assert_eq!(short.sku, sku("B"));
}

#[test]
fn equal_priorities_are_ordered_by_code() {
    let stock = Stock::from([(("A", "north"), 3), (("A", "east"), 3)]);
    let sites = vec![site("north", 5), site("east", 5)];
    let got = run(Strategy::Priority, &[line("A", 2)], None, &sites, &stock).unwrap();
    assert_eq!(got, vec![t("A", "east", 2)]);
}

const CODES: [&str; 5] = ["a", "b", "c", "d", "e"];
const SKUS: [&str; 3] = ["X", "Y", "Z"];

#[derive(Debug, Clone)]
struct Case {
    sites: Vec<Site>,
    stock: BTreeMap<(usize, usize), i64>,
    lines: Vec<Demand>,
    pickup: Option<usize>,
    strategy: Strategy,
}

fn case() -> impl proptest::strategy::Strategy<Value = Case> {
    (1usize..=5)
        .prop_flat_map(|n| {
            (
                prop::collection::vec((0i32..4, any::<bool>(), any::<bool>()), n),
                prop::collection::btree_map((0..n, 0usize..3), 0i64..6, 0..12),
                prop::collection::vec((0usize..3, 1i64..5, prop::option::of(0..n)), 1..5),
                prop::option::weighted(0.2, 0..n),
                prop_oneof![
                    Just(Strategy::Priority),
                    Just(Strategy::MostAvailable),
                    Just(Strategy::FewestLocations)
                ],
            )
        })
        .prop_map(|(sites, stock, lines, pickup, strategy)| Case {
            sites: sites
                .into_iter()
                .enumerate()
                .map(|(i, (priority, inactive, pos_only))| Site {
                    active: !inactive,
                    channels: if pos_only { vec!["pos".into()] } else { vec![] },
                    ..site(CODES[i], priority)
                })
                .collect(),
            stock: stock.into_iter().map(|((l, s), u)| ((s, l), u)).collect(),
            lines: lines
                .into_iter()
                .map(|(s, units, pin)| Demand {
                    pin: pin.map(|p| code(CODES[p])),
                    ..line(SKUS[s], units)
                })
                .collect(),
            pickup,
            strategy,
        })
}

fn decide(case: &Case) -> Result<Vec<Allocation>, Shortfall> {
    let pickup = case.pickup.map(|p| code(CODES[p]));
    let request = Request {
        lines: &case.lines,
        pickup: pickup.as_ref(),
        channel: Some("web"),
    };
    allocate(case.strategy, &request, &case.sites, |s, at| {
        let si = SKUS.iter().position(|k| *k == s.as_str()).unwrap();
        let li = CODES.iter().position(|c| *c == at.as_str()).unwrap();
        case.stock.get(&(si, li)).copied().unwrap_or(0)
    })
}

proptest! {
    /// Whatever it decides gives every line exactly its units, from
    /// locations that may serve the order, never more than each has, and
    /// a pinned or pickup line only from its place; the same inputs decide
    /// the same way.
    #[test]
    fn an_allocation_serves_every_line_within_what_each_location_has(case in case()) {
        let first = decide(&case);
        prop_assert_eq!(&first, &decide(&case));
        let Ok(allocations) = first else { return Ok(()) };
        let mut per_sku: BTreeMap<&str, i64> = BTreeMap::new();
        for line in &case.lines {
            *per_sku.entry(line.sku.as_str()).or_default() += line.quantity.get();
        }
        let mut given: BTreeMap<&str, i64> = BTreeMap::new();
        for a in &allocations {
            *given.entry(a.sku.as_str()).or_default() += a.quantity.get();
            let li = CODES.iter().position(|c| *c == a.location.as_str()).unwrap();
            let si = SKUS.iter().position(|k| *k == a.sku.as_str()).unwrap();
            prop_assert!(a.quantity.get() <= case.stock.get(&(si, li)).copied().unwrap_or(0));
            prop_assert!(case.sites[li].serves(Some("web")));
            if let Some(p) = case.pickup {
                prop_assert_eq!(li, p);
            }
        }
        prop_assert_eq!(per_sku, given);
        for line in &case.lines {
            if let (Some(pin), None) = (&line.pin, case.pickup) {
                let at_pin: i64 = allocations
                    .iter()
                    .filter(|a| a.sku == line.sku && &a.location == pin)
                    .map(|a| a.quantity.get())
                    .sum();
                prop_assert!(at_pin >= line.quantity.get());
            }
        }
    }

    /// When the lines are all loose and no pickup is asked, a refusal means
    /// no allocation at all exists: some SKU lacks units over every location
    /// that may serve the order.
    #[test]
    fn a_refusal_of_loose_lines_means_the_eligible_total_is_short(case in case()) {
        let mut case = case;
        case.pickup = None;
        for line in &mut case.lines {
            line.pin = None;
        }
        if let Err(short) = decide(&case) {
            let si = SKUS.iter().position(|k| *k == short.sku.as_str()).unwrap();
            let total: i64 = case
                .sites
                .iter()
                .enumerate()
                .filter(|(_, s)| s.serves(Some("web")))
                .map(|(li, _)| case.stock.get(&(si, li)).copied().unwrap_or(0))
                .sum();
            prop_assert_eq!(total, short.available);
            prop_assert!(short.requested > total);
        }
    }

    /// `fewest_locations` never uses more locations than `priority` does.
    #[test]
    fn fewest_locations_uses_no_more_locations_than_priority(case in case()) {
        let mut case = case;
        case.pickup = None;
        case.strategy = Strategy::FewestLocations;
        let fewest = decide(&case);
        case.strategy = Strategy::Priority;
        let by_priority = decide(&case);
        if let (Ok(fewest), Ok(by_priority)) = (fewest, by_priority) {
            let count = |all: &[Allocation]| {
                all.iter().map(|a| a.location.clone()).collect::<std::collections::BTreeSet<_>>().len()
            };
            prop_assert!(count(&fewest) <= count(&by_priority));
        }
    }
}
