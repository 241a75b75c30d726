import FerryWire

/// Turns the rows of a lookup into the tracker's answer: for each requested name, its holders grouped
/// by content (size and SHA-256), the group with the most holders first, holders in the order the
/// store gave them (the order peers connected). A group's root is the one most of its holders
/// announced (on a tie, the one announced first in that order); holders that announced none (older
/// peers) neither count nor split the group. Partial holders (still downloading) count as holders
/// and vote for the root, but come after the complete holders of their group.
public enum HolderGrouping {
    public static func results(for requested: [String], rows: [HolderRow]) -> [LookupResult] {
        var rowsByName: [SharedFileName: [HolderRow]] = [:]
        for row in rows { rowsByName[row.name, default: []].append(row) }

        var seen = Set<String>()
        var results: [LookupResult] = []
        for raw in requested where seen.insert(raw).inserted {
            let name: SharedFileName
            do {
                name = try SharedFileName(validating: raw)
            } catch {
                results.append(LookupResult(name: raw, outcome: .badName(error.description)))
                continue
            }
            guard let rows = rowsByName[name], !rows.isEmpty else {
                results.append(LookupResult(name: raw, outcome: .notFound))
                continue
            }
            results.append(LookupResult(name: raw, outcome: .found(groups(of: rows))))
        }
        return results
    }

    static func groups(of rows: [HolderRow]) -> [HolderGroup] {
        struct Key: Hashable { var size: UInt64; var digest: ContentDigest }
        var order: [Key] = []
        var groups: [Key: HolderGroup] = [:]
        var roots: [Key: [ContentDigest: Int]] = [:]
        var rootOrder: [Key: [ContentDigest]] = [:]
        for row in rows {
            let key = Key(size: row.size, digest: row.digest)
            if groups[key] == nil {
                order.append(key)
                groups[key] = HolderGroup(size: row.size, digest: row.digest, holders: [])
            }
            if !groups[key]!.holders.contains(row.holder) {
                groups[key]!.holders.append(row.holder)
                if row.isPartial { groups[key]!.partial.insert(row.holder) }
                if let root = row.root {
                    if roots[key, default: [:]][root] == nil { rootOrder[key, default: []].append(root) }
                    roots[key, default: [:]][root, default: 0] += 1
                }
            }
        }
        for (key, order) in rootOrder {
            let votes = roots[key]!
            groups[key]!.root = order.max { votes[$0]! < votes[$1]! }    // the first of equals on a tie
        }
        for key in order where !groups[key]!.partial.isEmpty {
            let group = groups[key]!
            groups[key]!.holders = group.completeHolders + group.holders.filter { group.partial.contains($0) }
        }
        let firstSeen = Dictionary(uniqueKeysWithValues: order.enumerated().map { ($1, $0) })
        return order.sorted { lhs, rhs in
            let (l, r) = (groups[lhs]!.holders.count, groups[rhs]!.holders.count)
            return l != r ? l > r : firstSeen[lhs]! < firstSeen[rhs]!
        }.map { groups[$0]! }
    }
}
