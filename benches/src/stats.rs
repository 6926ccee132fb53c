//! Small statistics helpers: medians of noisy runs, and the order in which
//! the ways of a comparison take their turns.

/// Median of `values` (the mean of the middle two for an even count);
/// `NaN` when empty.
pub fn median(values: &[f64]) -> f64 {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// The order in which `ways` ways take their turns in round `round`:
/// rounds come in pairs, the pair `m` rotated by `m`, its second round
/// backwards. Over `2 * ways` rounds each way takes every position twice,
/// and no way always follows the same one (whatever a way leaves behind,
/// such as a link's teardown, does not always land on the same next way).
pub fn round_order(round: usize, ways: usize) -> Vec<usize> {
    let forward = (0..ways).map(|k| (round / 2 + k) % ways);
    if round.is_multiple_of(2) {
        forward.collect()
    } else {
        forward.rev().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::{median, round_order};

    #[test]
    fn median_of_odd_even_and_empty() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn round_orders_balance_positions_and_predecessors() {
        let ways = 4;
        let mut at = vec![vec![0; ways]; ways];
        let mut after = vec![std::collections::BTreeSet::new(); ways];
        for round in 0..2 * ways {
            let order = round_order(round, ways);
            let mut sorted = order.clone();
            sorted.sort();
            assert_eq!(sorted, [0, 1, 2, 3], "round {round}: {order:?}");
            for (position, &way) in order.iter().enumerate() {
                at[way][position] += 1;
            }
            for pair in order.windows(2) {
                after[pair[1]].insert(pair[0]);
            }
        }
        assert!(at.iter().all(|positions| positions == &[2; 4]), "{at:?}");
        assert!(after.iter().all(|before| before.len() == 2), "{after:?}");
    }
}
