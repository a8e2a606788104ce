// The reference HdrHistogram (Java) as a witness for bench/histogram_java_test.ts,
// through its public API only, launched as a single file:
//
//   java -cp /usr/share/java/hdrhistogram.jar bench/testdata/HdrProbe.java MODE
//
//   decode      reads one base64 histogram a line, prints its summary line
//   write       prints name<TAB>base64<TAB>summary for histograms Java made
//   hlog FILE   writes an interval log with HistogramLogWriter, prints each interval's summary
//
// A summary holds the figures both sides must agree on: the count, min, max,
// percentiles, and exact sums over every bucket (which pin each count).

import java.io.BufferedReader;
import java.io.FileOutputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.util.Base64;
import java.util.Random;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.HistogramIterationValue;
import org.HdrHistogram.HistogramLogWriter;

public class HdrProbe {
    static final double[] PERCENTILES = {0, 50, 90, 99, 99.9, 99.99, 100};
    static final long HOUR_NS = 3_600_000_000_000L;

    static String summary(Histogram h) {
        StringBuilder s = new StringBuilder();
        s.append("count=").append(h.getTotalCount()).append(" min=").append(h.getMinValue())
                .append(" max=").append(h.getMaxValue());
        for (double p : PERCENTILES) s.append(" p").append(p).append('=').append(h.getValueAtPercentile(p));
        BigInteger sum = BigInteger.ZERO, squares = BigInteger.ZERO;
        long buckets = 0;
        for (HistogramIterationValue v : h.recordedValues()) {
            BigInteger value = BigInteger.valueOf(v.getValueIteratedTo());
            BigInteger count = BigInteger.valueOf(v.getCountAtValueIteratedTo());
            buckets++;
            sum = sum.add(value.multiply(count));
            squares = squares.add(value.multiply(value).multiply(count));
        }
        return s.append(" buckets=").append(buckets).append(" sum=").append(sum)
                .append(" squares=").append(squares).toString();
    }

    static String encode(Histogram h) {
        ByteBuffer buffer = ByteBuffer.allocate(h.getNeededByteBufferCapacity());
        int length = h.encodeIntoCompressedByteBuffer(buffer);
        byte[] bytes = new byte[length];
        System.arraycopy(buffer.array(), 0, bytes, 0, length);
        return Base64.getEncoder().encodeToString(bytes);
    }

    static void write() {
        Random random = new Random(42);
        Histogram uniform = new Histogram(1, HOUR_NS, 3);
        for (int i = 0; i < 100_000; i++) uniform.recordValue((long) (random.nextDouble() * 10_000_000));
        Histogram lognormal = new Histogram(1, HOUR_NS, 3);
        for (int i = 0; i < 100_000; i++) {
            lognormal.recordValue((long) Math.exp(Math.log(200_000) + 0.8 * random.nextGaussian()));
        }
        Histogram outliers = new Histogram(1, HOUR_NS, 3);
        for (int i = 0; i < 10_000; i++) outliers.recordValue(40_000 + random.nextInt(20_000));
        for (long v : new long[] {10_000_000_000L, 3_540_000_000_000L, HOUR_NS}) outliers.recordValue(v);
        Histogram zeros = new Histogram(1, HOUR_NS, 3);
        zeros.recordValueWithCount(0, 7);
        zeros.recordValueWithCount(2047, 5);
        zeros.recordValueWithCount(2048, 5);
        Histogram coarse = new Histogram(1000, HOUR_NS, 2);
        for (int i = 0; i < 20_000; i++) coarse.recordValue((long) Math.exp(14 + 1.5 * random.nextGaussian()));
        Histogram resizing = new Histogram(3);
        for (int i = 0; i < 10_000; i++) resizing.recordValue((long) (random.nextDouble() * 5_000_000_000L));
        Histogram big = new Histogram(1, 1000, 1);
        big.recordValueWithCount(5, 1L << 40);
        big.recordValueWithCount(900, (1L << 50) + 3);
        Object[][] all = {{"uniform", uniform}, {"lognormal", lognormal}, {"outliers", outliers},
            {"empty", new Histogram(1, HOUR_NS, 3)}, {"zeros", zeros}, {"coarse-1000-2", coarse},
            {"auto-resizing", resizing}, {"big-counts", big}};
        for (Object[] named : all) {
            Histogram h = (Histogram) named[1];
            System.out.println(named[0] + "\t" + encode(h) + "\t" + summary(h));
        }
    }

    static void hlog(String file) throws Exception {
        try (PrintStream out = new PrintStream(new FileOutputStream(file))) {
            HistogramLogWriter writer = new HistogramLogWriter(out);
            long start = 1_700_000_000_000L;
            writer.outputLogFormatVersion();
            writer.outputStartTime(start);
            writer.setBaseTime(start);
            writer.outputBaseTime(start);
            writer.outputLegend();
            Random random = new Random(7);
            for (int k = 0; k < 3; k++) {
                Histogram h = new Histogram(1, HOUR_NS, 3);
                for (int i = 0; i < 5_000; i++) h.recordValue((long) ((k + 1) * 100_000 * (1 + random.nextDouble())));
                h.setStartTimeStamp(start + k * 1000L);
                h.setEndTimeStamp(start + (k + 1) * 1000L);
                if (k == 1) h.setTag("A");
                writer.outputIntervalHistogram(h);
                System.out.println(summary(h));
            }
        }
    }

    public static void main(String[] args) throws Exception {
        switch (args[0]) {
            case "decode": {
                BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
                for (String line; (line = in.readLine()) != null; ) {
                    ByteBuffer bytes = ByteBuffer.wrap(Base64.getDecoder().decode(line.trim()));
                    System.out.println(summary(Histogram.decodeFromCompressedByteBuffer(bytes, 0)));
                }
                break;
            }
            case "write":
                write();
                break;
            case "hlog":
                hlog(args[1]);
                break;
            default:
                throw new IllegalArgumentException(args[0]);
        }
    }
}
