//! The payments workload of issue 21's benchmark, the same for DAIRA (over `daira exec` and
//! GraphQL) and for the PostgreSQL peer: payments among accounts with random amounts, about one
//! in 17 more than anyone holds (refused), about one in 20 a retry of an earlier payment with
//! the same key (answered with the first result, never applied twice).

/// Each account's opening balance, in piastres (1,000 EGP).
pub const OPENING: i64 = 100_000;

/// One payment: (key, debit account, credit account, piastres); accounts count from 1.
pub type Payment = (String, i64, i64, i64);

/// `n` payments among `accounts` accounts, the same for a seed.
pub fn workload(n: usize, accounts: u64, seed: u64) -> Vec<Payment> {
    let mut rng = schema::SplitMix64::new(seed);
    let mut out: Vec<Payment> = Vec::with_capacity(n);
    for i in 0..n {
        let r = rng.next_u64();
        if i > 10 && r.is_multiple_of(20) {
            let earlier = out[(rng.next_u64() % i as u64) as usize].clone();
            out.push(earlier);
            continue;
        }
        let debit = 1 + (rng.next_u64() % accounts) as i64;
        let mut credit = 1 + (rng.next_u64() % accounts) as i64;
        if credit == debit {
            credit = 1 + (credit % accounts as i64);
        }
        let amount = if r.is_multiple_of(17) { 10 * OPENING } else { 1 + (rng.next_u64() % 5_000) as i64 };
        out.push((format!("p{i}"), debit, credit, amount));
    }
    out
}

/// Piastres as EGP text ("12.50").
pub fn egp(piastres: i64) -> String {
    format!("{}.{:02}", piastres / 100, piastres % 100)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_workload_has_retries_refusals_and_no_self_payments() {
        let w = super::workload(10_000, 200, 21);
        assert!(w.iter().all(|(_, d, c, _)| d != c && (1..=200).contains(d) && (1..=200).contains(c)));
        let keys: std::collections::HashSet<&String> = w.iter().map(|p| &p.0).collect();
        assert!((300..800).contains(&(w.len() - keys.len())), "about one in 20 is a retry");
        assert!(w.iter().filter(|p| p.3 > super::OPENING).count() > 400, "some are more than anyone holds");
    }
}
