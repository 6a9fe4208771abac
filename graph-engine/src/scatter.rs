//! A parallel, stable counting sort: the one primitive behind import sorting and CSR building.

use rayon::prelude::*;

/// A raw pointer that parallel tasks share to write disjoint slots.
struct SharedSlots<T>(*mut T);
// SAFETY: `scatter_by_key` hands every task a disjoint set of slots to write, and `T: Send`.
unsafe impl<T: Send> Sync for SharedSlots<T> {}

/// Groups row indexes `0..keys.len()` by key (`< n`), stably: returns `offsets` (`n + 1`
/// entries) and `order`, where `order[offsets[k]..offsets[k + 1]]` lists the rows with key `k`
/// in increasing order.
pub(crate) fn group_by_key(keys: &[u32], n: usize) -> (Vec<u64>, Vec<u32>) {
    scatter_by_key(keys, n, |row| row as u32)
}

/// Groups `value(row)` of every row `0..keys.len()` by the row's key (`< n`), stably: returns
/// `offsets` (`n + 1` entries) and the values, where `values[offsets[k]..offsets[k + 1]]` are
/// those of the rows with key `k`, in row order. Scattering the values themselves (not row
/// indexes to look them up by) spares a pass and an array as long as the rows.
///
/// Each thread counts its own contiguous slice of rows, so every (thread, key) pair owns a
/// disjoint run of output slots, and runs of earlier threads come first within a key.
pub(crate) fn scatter_by_key<T: Copy + Send + Default>(
    keys: &[u32],
    n: usize,
    value: impl Fn(usize) -> T + Sync,
) -> (Vec<u64>, Vec<T>) {
    let m = keys.len();
    assert!(m <= u32::MAX as usize, "at most 2^32 - 1 rows");
    let threads = rayon::current_num_threads().clamp(1, 16);
    let chunk = m.div_ceil(threads).max(1 << 16);
    let counts: Vec<Vec<u32>> = keys
        .par_chunks(chunk)
        .map(|part| {
            let mut c = vec![0u32; n];
            for &k in part {
                c[k as usize] += 1;
            }
            c
        })
        .collect();
    let mut offsets = vec![0u64; n + 1];
    for c in &counts {
        offsets[1..].par_iter_mut().zip(c.par_iter()).for_each(|(o, &x)| *o += u64::from(x));
    }
    for i in 1..offsets.len() {
        offsets[i] += offsets[i - 1];
    }
    let mut starts: Vec<Vec<u64>> = Vec::with_capacity(counts.len());
    let mut running: Vec<u64> = offsets[..n].to_vec();
    for c in &counts {
        starts.push(running.clone());
        running.par_iter_mut().zip(c.par_iter()).for_each(|(r, &x)| *r += u64::from(x));
    }
    drop((counts, running));
    let mut order: Vec<T> = vec![T::default(); m];
    let slots = SharedSlots(order.as_mut_ptr());
    keys.par_chunks(chunk).zip(starts.into_par_iter()).enumerate().for_each(|(t, (part, mut cursor))| {
        let slots = &slots;
        for (i, &k) in part.iter().enumerate() {
            let slot = cursor[k as usize] as usize;
            cursor[k as usize] += 1;
            assert!(slot < m);
            // SAFETY: `slot` lies in the run the counts reserved for this thread and key; runs
            // are disjoint and inside `0..m` (asserted), and `order` outlives this loop.
            unsafe { *slots.0.add(slot) = value(t * chunk + i) };
        }
    });
    (offsets, order)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_stably() {
        let keys: Vec<u32> = (0..300_000u32).map(|i| (i * 7919) % 1000).collect();
        let (offsets, order) = group_by_key(&keys, 1000);
        assert_eq!(offsets[1000] as usize, keys.len());
        for k in 0..1000 {
            let run = &order[offsets[k] as usize..offsets[k + 1] as usize];
            assert!(run.windows(2).all(|w| w[0] < w[1]), "stable within key {k}");
            assert!(run.iter().all(|&r| keys[r as usize] as usize == k));
        }
    }
}
