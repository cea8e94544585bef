/// Class names for the datasets that have them; digits otherwise.
public func classNames(forDataset name: String, classCount: Int = 10) -> [String] {
    if name.lowercased().contains("fashion"), classCount == 10 {
        return ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    }
    return (0 ..< classCount).map(String.init)
}
