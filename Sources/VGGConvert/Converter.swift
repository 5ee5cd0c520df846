public enum Converter {}
